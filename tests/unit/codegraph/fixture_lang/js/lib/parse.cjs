const path = require('path');

function parse() {
  return path.join('a');
}

module.exports = { parse };
