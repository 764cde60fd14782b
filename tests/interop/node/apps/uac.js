'use strict';
// UAC: once connected, places `calls` calls (default 1) to opts.uri with createUAC,
// holds each for `hold` ms (if set) and hangs up; or waits for the far end's BYE.
const {opts, emit, exit, connect, errFields, dialogFields, SDP} = require('./lib');

async function call(srf, n) {
  try {
    const headers = Object.assign({'Subject': `uac ${n}`}, opts.headers || {});
    const dlg = await srf.createUAC(opts.uri, {localSdp: SDP, headers}, {
      cbRequest: (err, req) => emit('invite-sent', {callId: req && req.get('Call-ID'), err: err && err.message}),
      cbProvisional: (res) => emit('provisional', {status: res.status, rseq: res.get('RSeq') || null})
    });
    emit('dialog', dialogFields(dlg));
    dlg.on('destroy', (bye, reason) => { emit('destroy', {id: dlg.id, reason}); done(); });
    dlg.on('modify', (req, res) => {
      emit('modify', {hasSdp: !!req.body});
      res.send(200, {body: SDP.replace('o=app 1234 1', 'o=app 1234 2')});
    });
    if (opts.hold !== undefined) {
      setTimeout(async() => {
        try {
          await dlg.destroy();
          emit('hungup', {id: dlg.id});
        } catch (err) {
          emit('hangup-error', errFields(err));
        }
        done();
      }, opts.hold);
    }
  } catch (err) {
    emit('uac-error', errFields(err));
    done();
  }
}

let remaining = opts.calls || 1;
function done() {
  if (--remaining === 0 && opts.exitWhenDone !== false) setTimeout(() => exit(0), 200);
}

let started = false;
const srf = connect();
srf.on('connect', (err) => {
  if (err || started) return;
  started = true;
  for (let i = 0; i < (opts.calls || 1); i++) call(srf, i);
});
