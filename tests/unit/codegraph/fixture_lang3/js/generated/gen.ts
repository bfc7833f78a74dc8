export function gen() {}
