'use strict';
// Sends REGISTER to opts.uri with digest credentials (opts.username / opts.password) through
// srf.request and reports every response it sees (the 401 is handled by srf itself).
const {opts, emit, exit, connect, errFields} = require('./lib');

let sent = false;
const srf = connect();
srf.on('connect', (err) => {
  if (err || sent) return;
  sent = true;
  // callback form, so the listeners are attached before the next frame is read
  srf.request(opts.uri, {
    method: 'REGISTER',
    headers: {
      'From': `<sip:${opts.username}@localhost>`,
      'To': `<sip:${opts.username}@localhost>`,
      'Contact': `<sip:${opts.username}@localhost>`,
      'Expires': '3600'
    },
    auth: {username: opts.username, password: opts.password}
  }, (err, req) => {
    if (err) return emit('request-error', errFields(err));
    emit('request-sent', {callId: req.get('Call-ID')});
    req.on('authenticate', (req2) => emit('authenticate', {authorization: req2.get('Authorization')}));
    req.on('response', (res) => {
      emit('response', {status: res.status, authorization: !!(res.req && res.req.has('Authorization')),
        callId: res.get('Call-ID'), cseq: res.get('CSeq')});
      if (res.status >= 200) setTimeout(() => exit(0), 100);
    });
  });
});
