export function direct() {}
