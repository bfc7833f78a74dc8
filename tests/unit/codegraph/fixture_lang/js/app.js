import greet, { shout as yell } from './lib/greet.js';
import * as util from './lib/util';
const { parse } = require('./lib/parse.cjs');
import fs from 'fs';
import leftPad from 'left-pad';
import missing from 'nowhere';
import { padUtil } from 'left-pad/util';
const old = require('old-pkg');

export function main() {
  greet('x');
  yell('y');
  util.helper(1);
  parse();
  leftPad();
  fs.readFileSync('f');
  missing();
  padUtil();
  old.old();
  import('./lazy.mjs');
  return new Widget();
}

class Widget extends util.Base {}
