import greet from './greet.js';

export function helper(x) {
  return x;
}

export class Base {
  hello() {
    greet(this.name());
  }
  name() {
    return 'b';
  }
}
