import { helper } from './util.js';

export default function greet(n) {
  return helper(n);
}

export function shout(n) {
  return greet(n);
}
