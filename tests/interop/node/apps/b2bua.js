'use strict';
// B2BUA: bridges each incoming INVITE to opts.uri with createB2BUA, relays re-INVITEs
// between the legs and tears the other leg down when either side hangs up.
// opts: passHeaders ('all': copy every request/response header between the legs).
const {opts, emit, connect, reportCdrs, errFields, dialogFields} = require('./lib');

connect((srf) => {
  if (opts.cdrs) reportCdrs(srf);
  srf.invite(async(req, res) => {
    emit('invite', {callId: req.get('Call-ID')});
    try {
      const {uas, uac} = await srf.createB2BUA(req, res, opts.uri, {
        proxyRequestHeaders: opts.passHeaders === 'all' ? ['all'] : ['Subject'],
        proxyResponseHeaders: opts.passHeaders === 'all' ? ['all'] : [],
        headers: {'X-B2B': 'yes'}
      }, {
        cbProvisional: (r) => emit('provisional', {status: r.status})
      });
      emit('bridged', {uas: dialogFields(uas), uac: dialogFields(uac)});
      const relay = (from, to, name) => from.on('modify', async(req2, res2) => {
        emit('modify', {leg: name, hasSdp: !!req2.body});
        try {
          const sdp = await to.modify(req2.body);
          res2.send(200, {body: sdp});
          emit('relayed', {leg: name});
        } catch (err) {
          res2.send(err.status || 500);
          emit('relay-error', Object.assign({leg: name}, errFields(err)));
        }
      });
      relay(uac, uas, 'uac');
      relay(uas, uac, 'uas');
      uas.on('destroy', (bye, reason) => {
        emit('destroy', {leg: 'uas', reason});
        uac.destroy().then(() => emit('hungup', {leg: 'uac'}))
          .catch((err) => emit('hangup-error', Object.assign({leg: 'uac'}, errFields(err))));
      });
      uac.on('destroy', (bye, reason) => {
        emit('destroy', {leg: 'uac', reason});
        uas.destroy().then(() => emit('hungup', {leg: 'uas'}))
          .catch((err) => emit('hangup-error', Object.assign({leg: 'uas'}, errFields(err))));
      });
    } catch (err) {
      emit('b2b-error', errFields(err));
    }
  });
});
