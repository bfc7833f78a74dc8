export function Button() {}
