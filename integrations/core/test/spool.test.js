'use strict';
// Spool claims of the JavaScript core (./claims.js), against the same rules as the Python side
// (src/healloop/sources/claims.py, tests/sources/test_spool_claims.py): a claim names its flusher by pid
// and start time, so a dead flusher's claim is taken back even when its pid is now another live process's.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { promisify } = require('node:util');
const execFile = promisify(require('node:child_process').execFile);
const { Spool } = require('..');
const { STALE_AFTER_MS, startTime } = require('../claims');
const { startQueue, healloopBin } = require('../testing');

const hasProc = fs.existsSync('/proc/self/stat');
let queue;
before(async () => { queue = await startQueue(); });
after(async () => { await queue.stop(); });

function put(spool, n) {
  const report = { node: 'node-a', source: 'cypress', spec: `cypress/e2e/claim${n}.cy.js`, test: `claim ${n}`,
    message: 'AssertionError', idempotency_key: `claim-key-${n}` };
  return spool.put({ report, artifacts: [] });
}

function spoolWith(n = 1) {
  const spool = new Spool(fs.mkdtempSync(path.join(os.tmpdir(), 'healloop-spool-')));
  return { spool, file: put(spool, n) };
}

function claimAs(file, heldBy) {
  const claim = `${file}.sending-${heldBy}`;
  fs.renameSync(file, claim);
  return claim;
}

test('a claim whose pid was reused by a live process is taken back, and Python delivers it', { skip: !hasProc }, async () => {
  const { spool, file } = spoolWith(1);
  const parent = process.ppid; // alive, but not the flusher that claimed: another start time
  const claim = claimAs(file, `${parent}-${Number(startTime(parent)) + 1}`);
  assert.deepEqual(spool.pending(), [claim]);
  const { stdout } = await execFile(healloopBin(), ['report', '--flush', '--queue', queue.url, '--spool', spool.dir], { encoding: 'utf8' });
  assert.match(stdout, /1 flushed; 0 waiting/);
  assert.ok((await queue.events()).some((e) => e.spec === 'cypress/e2e/claim1.cy.js'));
});

test('a live claim names this process by pid and start time, and is left alone', { skip: !hasProc }, () => {
  const { spool, file } = spoolWith(2);
  const entry = spool.claim(file);
  assert.equal(path.basename(entry.claimed), `${path.basename(file)}.sending-${process.pid}-${startTime(process.pid)}`);
  assert.deepEqual(spool.pending(), []);
});

test('older pid-only claims are still read: a dead pid at once, a live one after an hour', () => {
  const { spool, file } = spoolWith(3);
  const dead = claimAs(file, '999999999');
  const live = claimAs(put(spool, 4), String(process.ppid));
  assert.deepEqual(spool.pending(), [dead]);
  const old = new Date(Date.now() - STALE_AFTER_MS - 60000);
  fs.utimesSync(live, old, old);
  assert.deepEqual(spool.pending().sort(), [dead, live].sort());
});
