import { view } from './view';
import { nowhere } from './nowhere';
view();
