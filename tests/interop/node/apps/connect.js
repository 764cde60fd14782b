'use strict';
// Connects (routing opts.routes, default none) and reports the handshake result; with a
// wrong secret srf reports 'failed to authenticate to server' and the app exits.
const {opts, emit, exit, connect} = require('./lib');

const srf = connect((srf) => {
  for (const verb of opts.routes || []) srf.use(verb, (req, res) => res.send(486));
});
srf.on('connect', (err) => {
  if (err) {
    try { srf.disconnect(); } catch (e) { /* socket already gone */ }
    setTimeout(() => exit(0), 200);
  }
});
