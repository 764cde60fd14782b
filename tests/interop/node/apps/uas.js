'use strict';
// UAS: answers every INVITE with SDP through createUAS.
// opts: hangupAfter (ms; the app sends BYE), reject (status instead of answering),
//       ringFirst (send 180 before answering), cdrs (report CDR events),
//       reliable (send a reliable 183 with SDP first, answer after its PRACK),
//       reinviteAfter (ms after the ACK: re-INVITE with new SDP via dialog.modify),
//       answerReinvite (handle re-INVITEs in a 'modify' listener, offer SDP in the 200,
//       and hang up once the ACK for it arrives).
const {opts, emit, connect, reportCdrs, errFields, dialogFields, SDP} = require('./lib');

connect((srf) => {
  if (opts.cdrs) reportCdrs(srf);
  srf.invite(async(req, res) => {
    emit('invite', {callId: req.get('Call-ID'), from: req.get('From'), uri: req.uri,
      source: req.source, protocol: req.protocol, receivedOn: req.receivedOn,
      hasSdp: !!req.body});
    if (opts.reject) return res.send(opts.reject);
    if (opts.ringFirst) res.send(180);
    if (opts.reliable) {
      await new Promise((resolve) => {
        res.send(183, {headers: {'Require': '100rel'}, body: SDP}, (err, msg) => {
          emit('reliable-sent', {error: err ? (err.message || String(err)) : null,
            rseq: msg && msg.get('RSeq')});
          if (err) resolve();
        }, (prack) => {
          emit('prack', {rack: prack.get('RAck')});
          resolve();
        });
      });
    }
    try {
      const dlg = await srf.createUAS(req, res, {localSdp: SDP, headers: {'X-App': 'uas'}});
      emit('dialog', dialogFields(dlg));
      dlg.on('ack', () => {
        emit('ack', {id: dlg.id});
        if (opts.reinviteAfter !== undefined) {
          setTimeout(async() => {
            try {
              const remote = await dlg.modify(SDP.replace('o=app 1234 1', 'o=app 1234 2'));
              emit('modified', {remoteSdp: !!remote});
            } catch (err) {
              emit('modify-error', errFields(err));
            }
          }, opts.reinviteAfter);
        }
      });
      if (opts.answerReinvite) {
        dlg.on('modify', (req2, res2) => {
          emit('modify', {hasSdp: !!req2.body});
          res2.send(200, {body: SDP.replace('o=app 1234 1', 'o=app 1234 2')}, null, (ack) => {
            emit('reinvite-ack', {hasSdp: !!ack.body});
            dlg.destroy().then(() => emit('hungup', {id: dlg.id}))
              .catch((err) => emit('hangup-error', errFields(err)));
          });
        });
      }
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
