import d from 'dual';
import l from 'dual/late';
import r = require('dual/late');
import q = require('dual');
import { gen } from './gen';
d();
gen();
