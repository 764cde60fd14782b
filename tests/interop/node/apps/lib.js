'use strict';
// Shared plumbing for the interop apps: options from argv[2] (JSON), one JSON object per
// stdout line for the pytest side to assert on, a connected Srf, and a clean exit on
// SIGTERM or after `maxLifetime` ms so no app outlives its test.
const Srf = require('drachtio-srf');

const opts = Object.assign(
  {host: '127.0.0.1', port: 9022, secret: 'cymru', maxLifetime: 60000},
  JSON.parse(process.argv[2] || '{}'));

// With opts.quiet (benchmarks) only connection-level events are printed.
const LOUD = new Set(['connect', 'error', 'close', 'exit', 'uncaught', 'unhandled', 'lifetime']);

function emit(event, fields) {
  if (opts.quiet && !LOUD.has(event) && !event.endsWith('-error')) return;
  process.stdout.write(JSON.stringify(Object.assign({event, t: Date.now()}, fields || {})) + '\n');
}

function errFields(err) {
  if (!err) return {};
  if (typeof err !== 'object') return {message: String(err)};
  return {status: err.status, reason: err.reason, message: err.message || String(err),
    code: err.code};
}

let exiting = false;
function exit(code) {
  if (exiting) return;
  exiting = true;
  emit('exit', {code: code || 0});
  // let stdout drain before leaving
  setTimeout(() => process.exit(code || 0), 50);
}

process.on('SIGTERM', () => exit(0));
process.on('SIGINT', () => exit(0));
process.on('uncaughtException', (err) => {
  emit('uncaught', {message: String(err && err.stack || err)});
  exit(3);
});
process.on('unhandledRejection', (err) => {
  emit('unhandled', {message: String(err && err.stack || err)});
});
setTimeout(() => { emit('lifetime'); exit(4); }, opts.maxLifetime).unref();

// Connect a new Srf; `setup(srf)` registers handlers before the connection is made so the
// `route` commands go out during the handshake.
function connect(setup, options) {
  const srf = new Srf(options && options.tags);
  if (setup) setup(srf);
  srf.on('error', (err) => emit('error', {message: err.message}));
  srf.on('close', () => emit('close'));
  srf.on('connect', (err, hostport, version, localHostports) => {
    if (err) return emit('connect', Object.assign({ok: false}, errFields(err)));
    emit('connect', {ok: true, hostport, version, localHostports});
  });
  srf.connect({host: opts.host, port: opts.port, secret: opts.secret});
  return srf;
}

// Subscribe to the three CDR events and report them (the engine only sends them when
// <cdrs>true</cdrs> is configured).
function reportCdrs(srf) {
  srf.on('cdr:attempt', (source, time, msg) =>
    emit('cdr:attempt', {source, method: msg.method, callId: msg.get('Call-ID')}));
  srf.on('cdr:start', (source, time, role, msg) =>
    emit('cdr:start', {source, role, status: msg.status, callId: msg.get('Call-ID')}));
  srf.on('cdr:stop', (source, time, reason, msg) =>
    emit('cdr:stop', {source, reason, callId: msg.get('Call-ID')}));
}

const SDP = [
  'v=0',
  'o=app 1234 1 IN IP4 127.0.0.1',
  's=interop',
  'c=IN IP4 127.0.0.1',
  't=0 0',
  'm=audio 40000 RTP/AVP 0',
  'a=rtpmap:0 PCMU/8000',
  'a=sendrecv',
  ''
].join('\r\n');

function dialogFields(d) {
  return {id: d.id, type: d.type, callId: d.sip.callId, localTag: d.sip.localTag,
    remoteTag: d.sip.remoteTag, remoteSdp: !!(d.remote && d.remote.sdp)};
}

module.exports = {opts, emit, exit, connect, reportCdrs, errFields, dialogFields, SDP, Srf};
