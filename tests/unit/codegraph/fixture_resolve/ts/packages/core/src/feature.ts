export function feature() {}
