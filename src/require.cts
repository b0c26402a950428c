// `require('layercopy')`: layercopy is an ES module. Where Node loads ES
// modules through require() (20.19 and later: process.features.require_module)
// it is that module, the same exports as `import`; before, a clear
// ERR_REQUIRE_ESM instead of a failure inside Node's loader.
if ((process.features as { require_module?: boolean }).require_module) {
  module.exports = require('./index.js');
} else {
  throw Object.assign(
    new Error(
      "layercopy is an ES module: use `import { provision } from 'layercopy'` (or `await import('layercopy')` from CommonJS); Node 20.19 and later also load it through require()",
    ),
    {
      code: 'ERR_REQUIRE_ESM',
    },
  );
}
