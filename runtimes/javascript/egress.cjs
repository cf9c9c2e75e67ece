// Loaded in JavaScript sandboxes with network egress (`node --expose-internals --require
// /run/warden/egress.cjs`, or by the session agent). warden's proxy is the only way out
// and HTTP_PROXY and friends point at it, but node's own fetch does not read those
// variables: its global dispatcher becomes undici's EnvHttpProxyAgent, which does
// (NO_PROXY included).
'use strict';
const emitWarning = process.emitWarning;
try {
  // Its "experimental" warning would land in the program's stderr.
  process.emitWarning = () => {};
  const undici = require('internal/deps/undici/undici');
  undici.setGlobalDispatcher(new undici.EnvHttpProxyAgent());
} catch (e) {
  process.stderr.write(`warden: fetch will not use the egress proxy: ${e}\n`);
} finally {
  process.emitWarning = emitWarning;
}
