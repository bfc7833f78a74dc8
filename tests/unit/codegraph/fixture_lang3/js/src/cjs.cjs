const d = require('dual');
const { f } = require('dual/feature');
const l = require('dual/late');
f();
