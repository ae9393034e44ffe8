'use strict';
// Test helper: a real `healloop serve` on a free port (the repository's .venv, or HEALLOOP_BIN).

const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const REPO = path.resolve(__dirname, '..', '..');

function healloopBin() {
  return process.env.HEALLOOP_BIN || path.join(REPO, '.venv', 'bin', 'healloop');
}

async function startQueue({ db, args = [] } = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'healloop-q-'));
  db = db || path.join(dir, 'events.db');
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('HEALLOOP_')));
  const proc = spawn(healloopBin(), ['serve', '--db', db, '--port', '0', ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  proc.stderr.on('data', (d) => { err += d; });
  const url = await new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`healloop serve did not start in 20 s: ${err}`)), 20000);
    proc.stdout.on('data', (d) => {
      out += d;
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) { clearTimeout(timer); resolve(m[1]); }
    });
    proc.on('exit', (code) => { clearTimeout(timer); reject(new Error(`healloop serve exited ${code}: ${err}`)); });
  });
  proc.removeAllListeners('exit');
  return {
    url, db, dir,
    async events() {
      const r = await fetch(`${url}/v1/events?limit=1000`);
      return (await r.json()).events;
    },
    async fetch(route) { return fetch(url + route); },
    stop() {
      return new Promise((resolve) => {
        if (proc.exitCode !== null) return resolve();
        proc.on('exit', () => resolve());
        proc.kill('SIGTERM');
      });
    },
  };
}

module.exports = { startQueue, healloopBin, REPO };
