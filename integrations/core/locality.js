'use strict';
// Whether a failure is local to the machine that ran the test: a copy of
// src/healloop/sources/locality.py, whose comments say why each rule is there and in this order.
// Change both together: tests/sources/fixtures/locality.json is run against each
// (tests/sources/test_locality.py, integrations/cypress/test/locality.test.js).

const RULES = [
  ['no space left on device', /\bENOSPC\b|No space left on device/i],
  ['disk quota exceeded', /\bEDQUOT\b|Disk quota exceeded/i],
  ['address already in use', /\bEADDRINUSE\b|Address already in use|\bport [0-9]+ is already in use|is already used, make sure that nothing is running on the port/i],
  ['connection refused', /ECONNREFUSED|ERR_CONNECTION_REFUSED|Connection refused/i],
  ['connection reset', /ECONNRESET|ERR_CONNECTION_RESET|Connection reset/i],
  ['connection failed', /Failed to establish a new connection/i],
];
const CONNECTION = new Set(['connection refused', 'connection reset', 'connection failed']);

const TOKEN = String.raw`([A-Za-z0-9_.:\[\]%-]*[A-Za-z0-9\]])`;
const AUTHORITY = String.raw`([^\s/?#'"<>()\x60]*)`;

const HOSTS = [
  new RegExp(String.raw`\b(?:ECONNREFUSED|ECONNRESET)[ \t]+` + TOKEN, 'gi'),
  new RegExp(String.raw`(?:ERR_CONNECTION_[A-Z_]+ at|failed trying to load:)\s+[a-z][a-z0-9+.-]*://` + AUTHORITY, 'gi'),
  /ConnectionPool\(host='([^']*)'(?:, port=([0-9]+))?/gi,
  new RegExp('Failed to connect to ' + TOKEN + ' port ([0-9]+)', 'gi'),
  new RegExp('\\bdial (?:tcp|tcp4|tcp6|udp) ' + TOKEN, 'gi'),
  /connection to server at "([^"]*)"(?: \([^)]*\))?, port ([0-9]+)/gi,
];
const ANY_URL = new RegExp(String.raw`\b(?:https?|wss?)://` + AUTHORITY, 'gi');
const PORT_IN_USE = new RegExp(String.raw`(?:EADDRINUSE:? address already in use|EADDRINUSE)[ \t]+` + TOKEN, 'i');
const LOOPBACK = /^(?:localhost|[a-z0-9.-]*\.localhost|127(?:\.[0-9]{1,3}){3}|0\.0\.0\.0|::1?|(?:0{1,4}:){7}0{0,3}[01]|::ffff:127(?:\.[0-9]{1,3}){3})$/i;

function hostOf(token, port) {
  token = token.slice(token.lastIndexOf('@') + 1).replace(/[.,;:]+$/, '');
  return token && port ? `${token}:${port}` : token;
}

function isLoopback(host) {
  if (host.startsWith('[')) host = host.slice(1).split(']')[0];
  else if (host.split(':').length === 2) host = host.split(':')[0];
  host = host.split('%')[0];
  return LOOPBACK.test(host) || LOOPBACK.test(host.replace(/:[0-9]+$/, ''));
}

function namedHosts(text) {
  for (const pattern of HOSTS) {
    const hosts = [...text.matchAll(pattern)].map((m) => hostOf(m[1], m[2])).filter(Boolean);
    if (hosts.length) return hosts;
  }
  return [...text.matchAll(ANY_URL)].map((m) => hostOf(m[1])).filter(Boolean);
}

// The reason a failure is local to the reporting machine, e.g. "connection refused to
// 127.0.0.1:3000", or null when it is not, or may not be.
function isLocal(message, stack) {
  const text = `${message || ''}\n${stack || ''}`;
  for (const [reason, pattern] of RULES) {
    if (!pattern.test(text)) continue;
    if (reason === 'address already in use') {
      const m = PORT_IN_USE.exec(text);
      return m ? `${reason} ${m[1]}` : reason;
    }
    if (!CONNECTION.has(reason)) return reason;
    const hosts = namedHosts(text);
    if (!hosts.length) return `${reason}, no host named`;
    if (hosts.every(isLoopback)) return `${reason} to ${hosts[0]}`;
    return null;
  }
  return null;
}

module.exports = { isLocal };
