import { area } from './main';

export interface Shape {
  kind: string;
}

export class Circle implements Shape {
  kind = 'c';
  r(): number {
    return area(this);
  }
}

export function size(s: Shape): number {
  return 0;
}

export declare function measure(s: Shape): number;
