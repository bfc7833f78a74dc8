export function ui() {}
