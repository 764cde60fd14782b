'use strict';
// Accepts a SUBSCRIBE with createUAS (202), then sends NOTIFY active and NOTIFY terminated
// inside the subscription dialog and reports the subscription count after each.
const {opts, emit, connect, errFields, dialogFields} = require('./lib');

connect((srf) => {
  srf.subscribe(async(req, res) => {
    emit('subscribe', {event: req.get('Event'), expires: req.get('Expires')});
    try {
      const dlg = await srf.createUAS(req, res, {headers: {'Expires': req.get('Expires') || '900'}});
      emit('dialog', Object.assign(dialogFields(dlg), {dialogType: dlg.dialogType,
        subscriptions: dlg.getCountOfSubscriptions()}));
      dlg.on('destroy', (r, reason) => emit('destroy', {reason}));
      const pause = (ms) => new Promise((r) => setTimeout(r, ms));
      await pause(opts.notifyAfter || 100);
      const r1 = await dlg.request({method: 'NOTIFY', headers: {
        'Event': 'presence', 'Subscription-State': 'active;expires=900',
        'Content-Type': 'application/pidf+xml'}, body: '<presence/>'});
      emit('notify-response', {status: r1.status, subscriptions: dlg.getCountOfSubscriptions()});
      const r2 = await dlg.request({method: 'NOTIFY', headers: {
        'Event': 'presence', 'Subscription-State': 'terminated;reason=noresource'}});
      emit('notify-response', {status: r2.status, subscriptions: dlg.getCountOfSubscriptions()});
    } catch (err) {
      emit('subscribe-error', errFields(err));
    }
  });
});
