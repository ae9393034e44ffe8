'use strict';
// Delivery core of the JavaScript reporters. It mirrors src/healloop/sources/{failure,reporter,spool,locality}.py:
// the same report body, the same idempotency key, and spool format 1, so `healloop report --flush`
// delivers what a JavaScript reporter spooled. A reporter never throws into the test run.
// With HEALLOOP_REPORT=off it sends and spools nothing and says so once, at finish().
// Screenshots and DOM snapshots go into the run's folder (./artifacts.js): the tool node's artifacts
// folder (HEALLOOP_ARTIFACTS) or a temporary one, deleted at finish().

const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { isLocal } = require('./locality');
const { RunFolder } = require('./artifacts');
const claims = require('./claims');

const FORMAT = 1;
const MAX_MESSAGE = 64 * 1024;
const MAX_STACK = 256 * 1024;
const MAX_TITLE = 4096;
const MAX_LABEL = 1024;
const SENDING = '.sending-';
const REPORT_ON = ['on', '1', 'true', 'yes'];
const REPORT_OFF = ['off', '0', 'false', 'no'];
const OFF_NOTICE = 'healloop: reporting is off (HEALLOOP_REPORT=off); nothing sent';

function loadSettings(env = process.env, over = {}) {
  const url = (over.url || env.HEALLOOP_URL || 'http://127.0.0.1:8787').replace(/\/+$/, '');
  if (!/^https?:\/\//.test(url)) {
    throw new Error(`healloop: the queue URL must start with http:// or https://, got ${JSON.stringify(url)}`);
  }
  const budget = Number(over.budgetS ?? env.HEALLOOP_REPORT_BUDGET ?? 5);
  if (!(budget >= 0 && budget <= 300)) {
    throw new Error(`healloop: HEALLOOP_REPORT_BUDGET must be seconds from 0 to 300, got ${budget}`);
  }
  const reportRaw = env.HEALLOOP_REPORT || '';
  const report = reportRaw.trim().toLowerCase() || 'on';
  if (!REPORT_ON.includes(report) && !REPORT_OFF.includes(report)) {
    throw new Error(`healloop: HEALLOOP_REPORT must be on or off (or 1/0, true/false, yes/no), got ${JSON.stringify(reportRaw)}`);
  }
  const state = env.XDG_STATE_HOME || path.join(os.homedir(), '.local', 'state');
  // HEALLOOP_ARTIFACTS: the tool node's artifacts folder on this machine ([node] artifacts), so the
  // node's read_artifact reads what was reported; null: a temporary folder, deleted after the run.
  const artifactsRaw = over.artifactsDir || env.HEALLOOP_ARTIFACTS || null;
  const artifactsDir = artifactsRaw ? path.resolve(artifactsRaw) : null;
  if (artifactsDir && fs.existsSync(artifactsDir) && !fs.statSync(artifactsDir).isDirectory()) {
    throw new Error(`healloop: HEALLOOP_ARTIFACTS must be a folder (the tool node's \`node.artifacts\`), got the file ${JSON.stringify(artifactsDir)}`);
  }
  return {
    url,
    token: over.token || env.HEALLOOP_TOKEN || null,
    node: over.node || env.HEALLOOP_NODE || os.hostname(),
    spoolDir: over.spoolDir || env.HEALLOOP_SPOOL || path.join(state, 'healloop', 'spool'),
    budgetMs: budget * 1000,
    timeoutMs: 5000,
    // off: send and spool nothing, e.g. in a rerun whose result someone already reads.
    report: REPORT_ON.includes(report),
    artifactsDir,
  };
}

function sha256(text) {
  return crypto.createHash('sha256').update(text).digest('hex');
}

function idempotencyKey(runId, spec, test, attempt) {
  return 'hl1-' + sha256([runId, spec, test, String(attempt)].join('\0'));
}

function cut(text, limit) {
  text = String(text ?? '');
  return text.length <= limit ? text : text.slice(0, limit - 40) + `\n… [${text.length - limit + 40} characters cut]`;
}

const TYPES = { '.png': 'image/png', '.jpg': 'image/jpeg', '.jpeg': 'image/jpeg', '.html': 'text/html',
  '.md': 'text/markdown', '.zip': 'application/zip', '.json': 'application/json', '.txt': 'text/plain',
  '.log': 'text/plain', '.webm': 'video/webm', '.mp4': 'video/mp4' };

function artifact(file, name, contentType) {
  name = name || path.basename(file);
  return { path: file, name, content_type: contentType || TYPES[path.extname(name).toLowerCase()] || 'application/octet-stream' };
}

// A name the queue takes: no NUL, not only blanks (it refuses both).
function plainName(text) {
  const s = String(text == null ? '' : text).split('\0').join('');
  return s.trim() ? s : '';
}

// The spec as the queue takes it: a path inside the repository (as repo_spec in Python's
// sources/failure.py). Absolute paths and paths with `..` are made relative to the git work tree that
// holds the file, else to the working folder, else kept as their last two parts, so that the report is
// still delivered; paths already relative and inside are sent as they are.
function repoSpec(spec, cwd = process.cwd()) {
  spec = String(spec == null ? '' : spec);
  const parts = spec.split(/[\\/]/);
  const absolute = /^[\\/]/.test(spec) || /^[A-Za-z]:/.test(spec);
  if (!absolute && !parts.includes('..')) return spec;
  if (absolute && !path.isAbsolute(spec)) {
    return parts.filter((p) => p && !/^[A-Za-z]:$/.test(p)).slice(-2).join('/') || '(unknown spec)';
  }
  const full = path.resolve(cwd, spec);
  for (let folder = path.dirname(full); ; folder = path.dirname(folder)) {
    if (fs.existsSync(path.join(folder, '.git'))) return path.relative(folder, full).split(path.sep).join('/');
    if (path.dirname(folder) === folder) break;
  }
  const inside = path.relative(cwd, full);
  if (!inside.startsWith('..')) return inside.split(path.sep).join('/');
  return full.split(path.sep).filter(Boolean).slice(-2).join('/') || '(unknown spec)';
}

// failure: {source, spec, test, message, stack, attempt, flaky, durationMs, occurredAt, labels, artifacts}
// pathOf names each artifact's file as the report gives it (RunFolder.reportedPath).
function toReport(f, node, key, pathOf = (p) => p) {
  const labels = { attempts: String(f.attempt || 1), ...(f.labels || {}) };
  if (f.flaky) labels.flaky = 'true';
  if (f.durationMs != null) labels.duration_ms = String(Math.round(f.durationMs));
  const body = {
    node, source: f.source, kind: 'test_failure',
    spec: cut(plainName(repoSpec(f.spec)), MAX_TITLE) || '(unknown spec)',
    test: cut(plainName(f.test), MAX_TITLE) || '(unnamed test)',
    message: cut(String(f.message || '').trim(), MAX_MESSAGE) || 'the test failed without a message',
    priority: f.flaky ? 5 : 3,
    labels: Object.fromEntries(Object.entries(labels).map(([k, v]) => [k.slice(0, 256), cut(v, MAX_LABEL)])),
    idempotency_key: key,
    artifacts: (f.artifacts || []).slice(0, 100).map((a) => ({ name: a.name, content_type: a.content_type, path: pathOf(a.path) })),
  };
  if (f.stack) body.stack = cut(f.stack, MAX_STACK);
  // Judged on the text sent, so the queue's copy shows why; src/healloop/sources/failure.py alike.
  const localReason = isLocal(body.message, body.stack);
  if (localReason) {
    body.local = true;
    body.labels.local_reason = cut(localReason, MAX_LABEL);
  }
  if (f.occurredAt) body.occurred_at = f.occurredAt;
  return body;
}

class HttpError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

// Spool format 1: see src/healloop/sources/spool.py.
class Spool {
  constructor(dir) { this.dir = dir; }

  _writeJson(target, data) {
    fs.mkdirSync(path.dirname(target), { recursive: true });
    const tmp = path.join(path.dirname(target), `.tmp-${process.pid}-${crypto.randomUUID()}`);
    const fd = fs.openSync(tmp, 'w');
    try { fs.writeSync(fd, JSON.stringify(data)); fs.fsyncSync(fd); } finally { fs.closeSync(fd); }
    fs.renameSync(tmp, target);
  }

  put(entry, { rejected = false } = {}) {
    const name = sha256(entry.report.idempotency_key || crypto.randomUUID()).slice(0, 32);
    const base = rejected ? path.join(this.dir, 'rejected') : this.dir;
    const refs = [];
    entry.artifacts.forEach((a, i) => {
      const rel = path.join(`${name}.files`, `${i}-${path.basename(a.name) || 'artifact'}`);
      const dest = path.join(base, rel);
      try {
        if (path.resolve(a.path) !== path.resolve(dest)) {
          fs.mkdirSync(path.dirname(dest), { recursive: true });
          fs.copyFileSync(a.path, dest);
        }
        refs.push({ name: a.name, content_type: a.content_type, file: rel });
      } catch (err) {
        console.warn(`healloop: could not keep artifact ${a.path} in the spool: ${err.message}`);
      }
    });
    const target = path.join(base, `${name}.json`);
    this._writeJson(target, { format: FORMAT, created_at: entry.created_at || new Date().toISOString(),
      report: entry.report, event_id: entry.event_id || null, artifacts: refs, error: entry.error || null });
    return target;
  }

  pending() {
    let names;
    try { names = fs.readdirSync(this.dir); } catch { return []; }
    const now = Date.now();
    const stale = (n) => {
      let mtime;
      try { mtime = fs.statSync(path.join(this.dir, n)).mtimeMs; } catch { return false; } // gone meanwhile
      return claims.isStale(n.split(SENDING).pop(), now - mtime); // claim() stamps the claim's time
    };
    return names.filter((n) => n.endsWith('.json') || (n.includes(SENDING) && stale(n)))
      .map((n) => path.join(this.dir, n));
  }

  claim(file) {
    const stem = path.basename(file).split(SENDING)[0];
    const claimed = path.join(this.dir, `${stem}${SENDING}${claims.holder()}`);
    try { fs.renameSync(file, claimed); } catch { return null; }
    // A claim whose holder cannot be checked is judged by its age (./claims.js).
    try { const now = new Date(); fs.utimesSync(claimed, now, now); } catch { /* judged by the entry's age */ }
    let data;
    try {
      data = JSON.parse(fs.readFileSync(claimed, 'utf8'));
      if (data.format !== FORMAT || typeof data.report !== 'object') throw new Error(`not spool format ${FORMAT}`);
    } catch (err) {
      console.error(`healloop: spool entry ${file} is unreadable (${err.message}); moved to rejected/`);
      fs.mkdirSync(path.join(this.dir, 'rejected'), { recursive: true });
      fs.renameSync(claimed, path.join(this.dir, 'rejected', stem));
      return null;
    }
    return { report: data.report, event_id: data.event_id, error: data.error, created_at: data.created_at,
      artifacts: (data.artifacts || []).map((a) => artifact(path.join(this.dir, a.file), a.name, a.content_type)),
      claimed };
  }

  release(entry) {
    const stem = path.basename(entry.claimed).split(SENDING)[0];
    this._writeJson(entry.claimed, { format: FORMAT, created_at: entry.created_at, report: entry.report,
      event_id: entry.event_id || null, error: entry.error || null,
      artifacts: entry.artifacts.map((a) => ({ name: a.name, content_type: a.content_type, file: path.relative(this.dir, a.path) })) });
    fs.renameSync(entry.claimed, path.join(this.dir, stem));
  }

  done(entry) {
    const stem = path.basename(entry.claimed).split(SENDING)[0];
    try { fs.unlinkSync(entry.claimed); } catch { /* already gone */ }
    fs.rmSync(path.join(this.dir, stem.replace(/\.json$/, '.files')), { recursive: true, force: true });
  }
}

// Passes per POST /v1/runs; spooled runs wait in their own folder of the spool, and the quarantined
// tests are cached there for QUARANTINE_CACHE_MS (src/healloop/sources/reporter.py alike).
const RUNS_CHUNK = 1000;
const QUARANTINE_CACHE_MS = 60000;

// The spec and test as a report names them, so a pass counts into the same row as a failure.
function testNames(spec, test) {
  return [cut(plainName(repoSpec(spec)), MAX_TITLE) || '(unknown spec)', cut(plainName(test), MAX_TITLE) || '(unnamed test)'];
}

class Reporter {
  constructor(settings, { runId } = {}) {
    this.settings = settings;
    this.runId = runId || crypto.randomUUID();
    this.spool = new Spool(settings.spoolDir);
    this.runsSpool = new Spool(path.join(settings.spoolDir, 'runs'));
    this._quarantined = null;
    this.artifacts = new RunFolder(settings.artifactsDir, this.runId);
    this.counts = {};
    this.refusedArtifacts = [];
    this.down = null;
    this._budget = settings.budgetMs;
    this._offTold = false;
  }

  get off() { return this.settings.report === false; }

  key(f) { return idempotencyKey(this.runId, f.spec, f.test, f.attempt || 1); }

  _count(status) { this.counts[status] = (this.counts[status] || 0) + 1; }

  // Never throws: delivered, spooled for the next run, or kept under rejected/ with the queue's reason.
  async send(f) {
    if (this.off) { this._count('off'); return { status: 'off', message: OFF_NOTICE }; }
    try {
      // Into the node's artifacts folder (when set) before the report names them.
      f = { ...f, artifacts: (f.artifacts || []).map((a) => this.artifacts.adopt(a, f.spec, f.test)) };
      const entry = { report: toReport(f, this.settings.node, this.key(f), (p) => this.artifacts.reportedPath(p)),
        event_id: null, artifacts: f.artifacts.filter((a) => fs.existsSync(a.path)) };
      if ((await this.quarantined()).has(`${entry.report.spec}\0${entry.report.test}`)) {
        // Said for whoever reads the run's output; the queue decides the event's state itself.
        entry.report.labels.quarantined = 'true';
        this._count('quarantined');
      }
      const outcome = await this._deliver(entry);
      if (outcome.status === 'spooled') this.spool.put(entry);
      if (outcome.status === 'rejected') { entry.error = outcome.message; this.spool.put(entry, { rejected: true }); }
      this._count(outcome.status);
      return outcome;
    } catch (err) {
      console.error(`healloop: could not report or spool ${f.spec} > ${f.test}: ${err.message}`);
      this._count('lost');
      return { status: 'lost', message: err.message };
    }
  }

  // The tests that passed in this run, in requests of RUNS_CHUNK; spooled when the queue is down. Never throws.
  async sendRuns(passed, { source, runId } = {}) {
    if (this.off || !passed.length) return;
    const names = passed.map((p) => testNames(p.spec, p.test));
    for (let i = 0; i < names.length; i += RUNS_CHUNK) {
      const body = { node: this.settings.node, run_id: `${runId || this.runId}:${i / RUNS_CHUNK}`, source,
        passed: names.slice(i, i + RUNS_CHUNK).map(([spec, test]) => ({ spec, test })) };
      let status;
      try {
        status = await this._deliverRuns(body);
        if (status === 'spooled') this.runsSpool.put({ report: body, artifacts: [] });
      } catch (err) {
        console.error(`healloop: could not send or spool this run's passes: ${err.message}`);
        status = 'lost';
      }
      this._count(`runs_${status}`);
      if (status === 'delivered') this.counts.passes_sent = (this.counts.passes_sent || 0) + body.passed.length;
    }
  }

  async _deliverRuns(body) {
    if (this.down) return 'spooled';
    try {
      await this._request('POST', '/v1/runs', JSON.stringify(body), { 'content-type': 'application/json' });
      return 'delivered';
    } catch (err) {
      if (err.status === 503 || err.status === 401) { this._markDown(err.message); return 'spooled'; }
      if (!(err instanceof HttpError)) throw err;
      console.error(`healloop: the queue refused this run's passes: ${err.message}`);
      return 'rejected';
    }
  }

  // "spec\0test" of each quarantined test: asked once per run (or read from the spool's cache); empty when
  // the queue cannot say (the queue still keeps a quarantined test's failures from the agents).
  async quarantined() {
    if (this._quarantined) return this._quarantined;
    this._quarantined = new Set();
    if (this.off) return this._quarantined;
    const cache = path.join(this.settings.spoolDir, 'quarantines.cache'); // not *.json: those are entries
    const key = `${this.settings.url} ${this.settings.node}`;
    try {
      const data = JSON.parse(fs.readFileSync(cache, 'utf8'));
      const age = Date.now() / 1000 - Number(data.at);
      if (data.key === key && age >= 0 && age * 1000 < QUARANTINE_CACHE_MS) {
        this._quarantined = new Set(data.tests.map(([s, t]) => `${s}\0${t}`));
        return this._quarantined;
      }
    } catch { /* no cache, or not ours: ask */ }
    if (this.down) return this._quarantined;
    try {
      const got = await this._request('GET', '/v1/quarantines');
      const tests = got.quarantines.map((q) => [q.spec, q.test]);
      this._quarantined = new Set(tests.map(([s, t]) => `${s}\0${t}`));
      try {
        fs.mkdirSync(this.settings.spoolDir, { recursive: true });
        const tmp = `${cache}.${process.pid}-${crypto.randomUUID()}`;
        fs.writeFileSync(tmp, JSON.stringify({ key, at: Date.now() / 1000, tests }));
        fs.renameSync(tmp, cache);
      } catch { /* a cache only */ }
    } catch (err) {
      if (err.status === 503 || err.status === 401) this._markDown(err.message);
      else console.warn(`healloop: could not read the quarantined tests from ${this.settings.url}: ${err.message}`);
    }
    return this._quarantined;
  }

  async flush() {
    if (this.off) return;
    for (const file of this.runsSpool.pending()) {
      if (this.down) break;
      const entry = this.runsSpool.claim(file);
      if (!entry) continue;
      const status = await this._deliverRuns(entry.report);
      if (status === 'spooled') { this.runsSpool.release(entry); continue; }
      this.runsSpool.done(entry); // a refused one is logged; passes are not worth keeping aside
      this._count(status === 'delivered' ? 'runs_flushed' : 'runs_rejected');
    }
    for (const file of this.spool.pending()) {
      if (this.down) break;
      const entry = this.spool.claim(file);
      if (!entry) continue;
      const outcome = await this._deliver(entry);
      if (outcome.status === 'spooled') { this.spool.release(entry); continue; }
      if (outcome.status === 'rejected') { entry.error = outcome.message; this.spool.put(entry, { rejected: true }); }
      this.spool.done(entry);
      this._count(outcome.status === 'rejected' ? 'rejected' : 'flushed');
    }
  }

  async finish() {
    if (this.off) {
      if (!this._offTold) console.log(OFF_NOTICE);
      this._offTold = true;
      this.artifacts.cleanup();
      return;
    }
    try {
      if (!this.down && (this.spool.pending().length || this.runsSpool.pending().length)) await this.flush();
    } catch (err) {
      console.error(`healloop: flushing the spool failed: ${err.message}`);
    }
    if (this.down && this.counts.spooled) {
      console.warn(`healloop: ${this.counts.spooled} report(s) kept in ${this.spool.dir}; they are delivered on the next run or by 'healloop report --flush'`);
    }
    // Every report of the run is uploaded, or spooled with copies of its files, by now.
    try { this.artifacts.cleanup(); } catch (err) { console.error(`healloop: could not delete this run's temporary artifacts folder: ${err.message}`); }
  }

  _markDown(message) {
    if (!this.down) {
      this.down = message;
      console.warn(`healloop: the queue at ${this.settings.url} is not taking reports (${message}); reports of this run are kept in ${this.spool.dir} and delivered later`);
    }
  }

  async _request(method, route, body, headers = {}) {
    const h = { ...headers };
    if (this.settings.token) h.authorization = `Bearer ${this.settings.token}`;
    let delay = 100;
    for (;;) {
      const started = Date.now();
      let resp;
      try {
        resp = await fetch(this.settings.url + route, { method, body, headers: h,
          signal: AbortSignal.timeout(route.endsWith('/artifacts') ? 60000 : this.settings.timeoutMs) });
      } catch (err) {
        resp = { status: 0, error: `cannot reach the queue at ${this.settings.url}: ${err.cause?.code || err.cause?.message || err.message}` };
      }
      if (resp.status && resp.status < 500) {
        const data = await resp.json().catch(() => ({}));
        if (resp.status >= 400) throw new HttpError(resp.status, `${data.message || resp.statusText} (HTTP ${resp.status})`);
        return data;
      }
      const message = resp.error || `the queue answered HTTP ${resp.status}`;
      this._budget -= Date.now() - started;
      if (this._budget <= 0) throw new HttpError(503, message);
      const pause = Math.min(delay, this._budget);
      await new Promise((r) => setTimeout(r, pause));
      this._budget -= pause;
      delay *= 2;
    }
  }

  async _deliver(entry) {
    if (this.down) return { status: 'spooled', message: this.down };
    let status = 'delivered';
    try {
      if (!entry.event_id) {
        // sent_at, read at each try: the queue corrects occurred_at by this machine's clock offset.
        const body = JSON.stringify({ ...entry.report, sent_at: new Date().toISOString() });
        const answer = await this._request('POST', '/v1/events', body, { 'content-type': 'application/json' });
        entry.event_id = answer.id;
        if (answer.merged) status = 'merged';
      }
      while (entry.artifacts.length) {
        await this._upload(entry.event_id, entry.artifacts[0]);
        entry.artifacts.shift();
      }
    } catch (err) {
      if (err.status === 503 || err.status === 401) { this._markDown(err.message); return { status: 'spooled', message: err.message }; }
      if (!(err instanceof HttpError)) throw err;
      console.error(`healloop: the queue refused the report of ${entry.report.spec} > ${entry.report.test}: ${err.message}`);
      return { status: 'rejected', message: err.message };
    }
    return { status, eventId: entry.event_id };
  }

  async _upload(eventId, a) {
    let bytes;
    try { bytes = fs.readFileSync(a.path); } catch (err) {
      console.warn(`healloop: artifact ${a.path} is gone and was not uploaded: ${err.message}`);
      return;
    }
    const form = new FormData();
    form.append('file', new Blob([bytes], { type: a.content_type }), a.name);
    try {
      await this._request('POST', `/v1/events/${eventId}/artifacts`, form);
    } catch (err) {
      if (err.status === 413 || err.status === 404) {
        const message = `artifact ${a.name} of event ${eventId} was not stored: ${err.message}`;
        this.refusedArtifacts.push(message);
        console.error(`healloop: ${message}`);
        return;
      }
      throw err;
    }
  }
}

module.exports = { loadSettings, idempotencyKey, toReport, testNames, repoSpec, isLocal, artifact, Spool, Reporter, RunFolder, FORMAT, OFF_NOTICE };
