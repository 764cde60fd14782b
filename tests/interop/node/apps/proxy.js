'use strict';
// Proxies every INVITE to opts.dest with proxyRequest (record-route unless opts.recordRoute
// is false) and reports the result object.
const {opts, emit, connect, errFields} = require('./lib');

connect((srf) => {
  srf.invite(async(req, res) => {
    emit('invite', {callId: req.get('Call-ID')});
    try {
      const results = await srf.proxyRequest(req, opts.dest, {
        recordRoute: opts.recordRoute !== false,
        headers: {'X-Proxied': 'yes'}
      });
      emit('proxied', {connected: results.connected, finalStatus: results.finalStatus,
        responses: results.responses.length});
    } catch (err) {
      emit('proxy-error', errFields(err));
    }
  });
});
