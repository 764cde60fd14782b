'use strict';
// Answers OPTIONS with 200 (+ X-Options-App), and, if opts.uri is set, sends one OPTIONS
// out with srf.request once connected and reports the response.
const {opts, emit, connect, errFields} = require('./lib');

const srf = connect((srf) => {
  srf.options((req, res) => {
    emit('options', {callId: req.get('Call-ID'), uri: req.uri});
    res.send(200, {headers: {'X-Options-App': 'yes', 'Allow': 'INVITE, ACK, BYE, CANCEL, OPTIONS'}});
  });
});

let sent = false;
srf.on('connect', (err) => {
  if (err || !opts.uri || sent) return;
  sent = true;
  // callback form: the 'response' listener must be attached before the next frame is read
  // (with the Promise form a fast response can be emitted before `await` resumes)
  srf.request(opts.uri, {method: 'OPTIONS', headers: {'X-Probe': 'out'}}, (err, req) => {
    if (err) return emit('request-error', errFields(err));
    emit('request-sent', {callId: req.get('Call-ID'), from: req.get('From'), via: req.get('Via')});
    req.on('response', (res) => emit('response', {status: res.status, callId: res.get('Call-ID')}));
  });
});
