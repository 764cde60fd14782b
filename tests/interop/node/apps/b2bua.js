'use strict';
// B2BUA: bridges each incoming INVITE to opts.uri with createB2BUA and tears the other
// leg down when either side hangs up.
const {opts, emit, connect, reportCdrs, errFields, dialogFields} = require('./lib');

connect((srf) => {
  if (opts.cdrs) reportCdrs(srf);
  srf.invite(async(req, res) => {
    emit('invite', {callId: req.get('Call-ID')});
    try {
      const {uas, uac} = await srf.createB2BUA(req, res, opts.uri, {
        proxyRequestHeaders: ['Subject'],
        headers: {'X-B2B': 'yes'}
      }, {
        cbProvisional: (r) => emit('provisional', {status: r.status})
      });
      emit('bridged', {uas: dialogFields(uas), uac: dialogFields(uac)});
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
