const { core } = require('@mono/core');
const { ui } = require('@mono/ui');

core(), ui();
