export function fmt() {}
