'use strict';
// UAS: answers every INVITE with SDP through createUAS.
// opts: hangupAfter (ms; the app sends BYE), reject (status instead of answering),
//       ringFirst (send 180 before answering), cdrs (report CDR events).
const {opts, emit, connect, reportCdrs, errFields, dialogFields, SDP} = require('./lib');

connect((srf) => {
  if (opts.cdrs) reportCdrs(srf);
  srf.invite(async(req, res) => {
    emit('invite', {callId: req.get('Call-ID'), from: req.get('From'), uri: req.uri,
      source: req.source, protocol: req.protocol, receivedOn: req.receivedOn,
      hasSdp: !!req.body});
    if (opts.reject) return res.send(opts.reject);
    if (opts.ringFirst) res.send(180);
    try {
      const dlg = await srf.createUAS(req, res, {localSdp: SDP, headers: {'X-App': 'uas'}});
      emit('dialog', dialogFields(dlg));
      dlg.on('ack', () => emit('ack', {id: dlg.id}));
      dlg.on('destroy', (bye, reason) => emit('destroy', {id: dlg.id, reason}));
      if (opts.hangupAfter !== undefined) {
        setTimeout(async() => {
          try {
            const bye = await dlg.destroy({headers: {'X-Reason': 'app hangup'}});
            emit('hungup', {id: dlg.id, method: bye.method});
          } catch (err) {
            emit('hangup-error', errFields(err));
          }
        }, opts.hangupAfter);
      }
    } catch (err) {
      emit('uas-error', errFields(err));
    }
  });
});
