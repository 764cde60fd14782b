'use strict';
// The npm drachtio-srf B2BUA for bench/b2bua.py: every INVITE is bridged to opts.uri with
// createB2BUA (default options) and the other leg is hung up when one side hangs up.
// Usage: node b2bua.js '{"host":"127.0.0.1","port":9022,"secret":"cymru","uri":"sip:..."}'
const path = require('path');
const Srf = require(path.join(__dirname, '..', '..', 'tests', 'interop', 'node',
  'node_modules', 'drachtio-srf'));

const opts = JSON.parse(process.argv[2] || '{}');
const emit = (event, fields) =>
  process.stdout.write(JSON.stringify(Object.assign({event}, fields || {})) + '\n');

const srf = new Srf();
srf.on('error', (err) => emit('error', {message: err.message}));
srf.on('connect', (err) => emit('connect', err ? {ok: false, message: err.message} : {ok: true}));

srf.invite(async(req, res) => {
  try {
    const {uas, uac} = await srf.createB2BUA(req, res, opts.uri);
    uas.on('destroy', () => uac.destroy().catch(() => {}));
    uac.on('destroy', () => uas.destroy().catch(() => {}));
  } catch (err) {
    // the failure was passed to the caller (passFailure)
  }
});

srf.connect({host: opts.host || '127.0.0.1', port: opts.port || 9022,
  secret: opts.secret || 'cymru'});
process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
