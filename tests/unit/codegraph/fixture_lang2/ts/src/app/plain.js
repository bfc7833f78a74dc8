import { types } from 'widgets';

types();
