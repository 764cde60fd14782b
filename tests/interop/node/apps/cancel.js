'use strict';
// Rings (180) and never answers in time, so the caller can CANCEL first. Reports the
// 'cancel' event, then tries a late 200, which the engine must refuse (the INVITE was
// already answered 487 by the engine itself).
const {opts, emit, connect, errFields, dialogFields, SDP} = require('./lib');

connect((srf) => {
  srf.invite((req, res) => {
    emit('invite', {callId: req.get('Call-ID')});
    let canceled = false;
    req.on('cancel', (cancel) => {
      canceled = true;
      emit('cancel', {callId: req.get('Call-ID'), method: cancel && cancel.method});
      setTimeout(() => {
        res.send(200, {body: SDP}, (err, msg) => emit('late-answer', {
          error: err ? (err.message || String(err)) : null, sent: !!msg}));
      }, 100);
    });
    res.send(180);
    setTimeout(async() => {
      if (canceled) return;
      try {
        const dlg = await srf.createUAS(req, res, {localSdp: SDP});
        emit('dialog', dialogFields(dlg));
      } catch (err) {
        emit('uas-error', errFields(err));
      }
    }, opts.answerAfter || 3000);
  });
});
