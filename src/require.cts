// `require('layercopy')`: layercopy is an ES module (Node >= 20.5); say so
// instead of failing inside Node's loader, whose require(esm) support
// depends on the Node version.
throw Object.assign(new Error("layercopy is an ES module: use `import { provision } from 'layercopy'` (or `await import('layercopy')` from CommonJS)"), {
  code: 'ERR_REQUIRE_ESM',
});
