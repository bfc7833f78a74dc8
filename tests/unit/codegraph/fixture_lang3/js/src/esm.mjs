import d from 'dual';
import { f } from 'dual/feature';
import l from 'dual/late';
const m = import('dual');
d();
f();
l();
