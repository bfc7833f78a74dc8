export function ignored() {}
