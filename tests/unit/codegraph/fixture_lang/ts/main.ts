import { helper, greet } from '../js/lib';
import type { Shape } from './shapes';
import * as shapes from './shapes';
import cfg = require('./config');

export interface Named {
  name: string;
}
export type Id = string | number;
export enum Color {
  Red,
  Green,
}

export function area(s: Shape): number {
  return shapes.size(s);
}

export const run = (): Id => {
  helper(1);
  greet('a');
  return area(new shapes.Circle());
};
