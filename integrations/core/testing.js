'use strict';
// Test helper: a real `healloop serve` on a free port (the repository's .venv, or HEALLOOP_BIN).

const { execFile: execFileCb, spawn } = require('node:child_process');
const { promisify } = require('node:util');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const REPO = path.resolve(__dirname, '..', '..');
const execFile = promisify(execFileCb);

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

// The tool node's own read_artifact on a workspace whose healloop.toml names the artifacts folder
// (Python, from the same .venv as the queue): {text} for text, {png: true, bytes} for a PNG.
const READ_ARTIFACT = `
import json, sys
from pathlib import Path
from healloop.node.config import load_config
from healloop.node.tools import Node, node_tools
node = Node.from_config(load_config(Path(sys.argv[1]), state_dir=Path(sys.argv[2])))
read = {fn.__name__: fn for fn, _ in node_tools(node)}["read_artifact"]
got = read(path=sys.argv[3])
print(json.dumps(got if isinstance(got, dict) else {"png": got.data.startswith(b"\\x89PNG"), "bytes": len(got.data)}))
`;

// Asynchronous, as every child process in these tests: an event loop blocked past the queue's 5 s
// keep-alive sends the next request on a connection the queue has closed ("fetch failed").
async function readArtifact(config, relPath) {
  const python = path.join(path.dirname(healloopBin()), 'python');
  const state = fs.mkdtempSync(path.join(os.tmpdir(), 'healloop-node-state-'));
  try {
    const { stdout } = await execFile(python, ['-c', READ_ARTIFACT, config, state, relPath], { encoding: 'utf8' });
    return JSON.parse(stdout);
  } finally {
    fs.rmSync(state, { recursive: true, force: true });
  }
}

module.exports = { startQueue, healloopBin, readArtifact, REPO };
