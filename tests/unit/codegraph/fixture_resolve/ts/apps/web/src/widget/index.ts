export function widget() {}
