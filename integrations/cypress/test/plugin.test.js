'use strict';
// healloop-cypress against a real queue, fed the `after:spec` results in the shapes Cypress documents
// for versions 12 and 13+ (the Cypress binary cannot be downloaded on these machines).

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { promisify } = require('node:util');
const execFile = promisify(require('node:child_process').execFile);
const { startQueue, healloopBin, readArtifact } = require('healloop-reporter-core/testing');
const { loadSettings } = require('healloop-reporter-core');

let queue;
before(async () => { queue = await startQueue(); });
after(async () => { await queue.stop(); });

function project() {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'cy-project-'));
  const shots = path.join(root, 'cypress', 'screenshots', 'login.cy.js');
  fs.mkdirSync(shots, { recursive: true });
  const shot = path.join(shots, 'login -- shows an error for a bad password (failed).png');
  fs.writeFileSync(shot, Buffer.from('89504e470d0a1a0a0000', 'hex'));
  const other = path.join(shots, 'login -- another test (failed).png');
  fs.writeFileSync(other, 'not this one');
  return { root, shot, other, spool: path.join(root, 'spool') };
}

function plugin(p, env) {
  const handlers = {};
  const on = (name, fn) => { handlers[name] = name === 'task' ? { ...(handlers.task || {}), ...fn } : fn; };
  delete require.cache[require.resolve('..')];
  const healloop = require('..');
  const saved = { ...process.env };
  Object.assign(process.env, { HEALLOOP_NODE: 'laptop-3', HEALLOOP_SPOOL: p.spool, HEALLOOP_REPORT_BUDGET: '0.5', ...env });
  const config = healloop(on, { projectRoot: p.root, env: {} });
  process.env = saved;
  return { handlers, config, reporter: healloop.reporter };
}

const SPEC = (root) => ({ name: 'login.cy.js', relative: 'cypress/e2e/login.cy.js', absolute: path.join(root, 'cypress/e2e/login.cy.js') });
const DISPLAY_ERROR = 'AssertionError: Timed out retrying after 4000ms: Expected to find element: `[data-cy=error]`, but never found it.\n    at Context.eval (webpack://app/./cypress/e2e/login.cy.js:8:34)';

function v13Results(p) {
  return {
    stats: { suites: 1, tests: 3, passes: 1, failures: 1, duration: 5200 },
    tests: [
      { title: ['login', 'shows the form'], state: 'passed', body: '', displayError: null, attempts: [{ state: 'passed' }] },
      { title: ['login', 'shows an error for a bad password'], state: 'failed', body: '', displayError: DISPLAY_ERROR,
        attempts: [{ state: 'failed' }, { state: 'failed' }] },
      { title: ['login', 'remembers me'], state: 'passed', body: '', displayError: null,
        attempts: [{ state: 'failed' }, { state: 'passed' }] },
    ],
    screenshots: [
      { name: null, takenAt: '2026-01-01T00:00:00.000Z', path: p.shot, height: 720, width: 1280 },
      { name: null, takenAt: '2026-01-01T00:00:00.000Z', path: p.other, height: 720, width: 1280 },
    ],
    video: null,
  };
}

function v12Results(p) {
  return {
    stats: { suites: 1, tests: 1, passes: 0, failures: 1 },
    tests: [{ title: ['login', 'shows an error for a bad password'], state: 'failed', body: '', displayError: DISPLAY_ERROR,
      attempts: [{ state: 'failed', duration: 4100, startedAt: '2026-01-01T00:00:00.000Z',
        error: { name: 'AssertionError', message: 'Timed out retrying after 4000ms', stack: 'AssertionError: ...' },
        screenshots: [{ name: null, takenAt: '2026-01-01T00:00:00.000Z', path: p.shot, height: 720, width: 1280 }] }] }],
    screenshots: [],
  };
}

test('Cypress 13 results: failed test with screenshot and DOM, flaky test at low priority', async () => {
  const p = project();
  const { handlers, config } = plugin(p, { HEALLOOP_URL: queue.url });
  assert.equal(config.env.healloopEnabled, true);
  const html = '<html><body><form><button data-cy="submit">登录</button></form></body></html>';
  assert.equal(handlers.task['healloop:dom']({ spec: 'cypress/e2e/login.cy.js', titlePath: ['login', 'shows an error for a bad password'], html, url: 'http://app.local/login' }), null);
  await handlers['after:spec'](SPEC(p.root), v13Results(p));
  await handlers['after:run']();

  const events = await queue.events();
  const failed = events.find((e) => e.test === 'login > shows an error for a bad password');
  assert.equal(failed.spec, 'cypress/e2e/login.cy.js');
  assert.deepEqual(failed.nodes, ['laptop-3']);
  assert.equal(failed.message, 'AssertionError: Timed out retrying after 4000ms: Expected to find element: `[data-cy=error]`, but never found it.');
  assert.match(failed.stack, /login\.cy\.js:8:34/);
  assert.equal(failed.labels.attempts, '2');
  assert.equal(failed.labels.url, 'http://app.local/login');
  const uploaded = failed.artifacts.filter((a) => a.url);
  assert.deepEqual(uploaded.map((a) => a.name).sort(),
    ['login -- shows an error for a bad password (failed).png', 'login.cy.js -- login -- shows an error for a bad password.dom.html']);
  const dom = await queue.fetch(uploaded.find((a) => a.name.endsWith('.dom.html')).url);
  assert.equal(await dom.text(), html);
  // Without HEALLOOP_ARTIFACTS the DOM went to a temporary folder, deleted at after:run; the
  // screenshot stays where Cypress put it.
  const domPath = failed.artifacts.find((a) => a.path && a.name.endsWith('.dom.html')).path;
  assert.ok(path.isAbsolute(domPath) && !fs.existsSync(domPath), domPath);
  assert.ok(fs.existsSync(p.shot));

  const flaky = events.find((e) => e.test === 'login > remembers me');
  assert.equal(flaky.priority, 5);
  assert.equal(flaky.labels.flaky, 'true');
  assert.equal(events.length, 2, 'the passing test is not reported');
});

test('with HEALLOOP_ARTIFACTS the DOM and the screenshots are in the node\'s artifacts folder', async () => {
  const p = project();
  const config = path.join(p.root, 'healloop.toml');
  fs.writeFileSync(config, '[node]\nworkspace = "."\nartifacts = "out/node-artifacts"\n');
  const folder = path.join(p.root, 'out', 'node-artifacts'); // missing: the plugin makes it
  const { handlers } = plugin(p, { HEALLOOP_URL: queue.url, HEALLOOP_NODE: 'laptop-5', HEALLOOP_ARTIFACTS: folder });
  const html = '<html><body><button data-cy="submit-order">Pay</button></body></html>';
  const spec = { ...SPEC(p.root), relative: 'cypress/e2e/node-folder.cy.js' };
  handlers.task['healloop:dom']({ spec: spec.relative, titlePath: ['login', 'shows an error for a bad password'], html, url: 'http://app.local/login' });
  await handlers['after:spec'](spec, v13Results(p));
  await handlers['after:run']();
  const [failed] = (await queue.events()).filter((e) => e.spec === spec.relative && e.labels.flaky !== 'true');
  const paths = Object.fromEntries(failed.artifacts.filter((a) => a.path).map((a) => [a.name, a.path]));
  assert.deepEqual(Object.keys(paths).sort(),
    ['login -- shows an error for a bad password (failed).png', 'node-folder.cy.js -- login -- shows an error for a bad password.dom.html']);
  for (const rel of Object.values(paths)) {
    assert.match(rel, /^run-[^/]+\/cypress_e2e_node-folder\.cy\.js -- login _ shows an error for a bad password-[0-9a-f]{8}\/[^/]+$/);
  }
  assert.equal((await readArtifact(config, paths['node-folder.cy.js -- login -- shows an error for a bad password.dom.html'])).text, html);
  // Cypress trashes its screenshots folder before the next run: the node keeps a copy.
  fs.rmSync(p.shot);
  assert.equal((await readArtifact(config, paths['login -- shows an error for a bad password (failed).png'])).png, true);
});

test('Cypress 12 results: per-attempt error, duration and screenshots', async () => {
  const p = project();
  const { handlers } = plugin(p, { HEALLOOP_URL: queue.url, HEALLOOP_NODE: 'old-cypress' });
  const spec = { ...SPEC(p.root), relative: 'cypress/e2e/v12/login.cy.js' };
  await handlers['after:spec'](spec, v12Results(p));
  const [e] = (await queue.events()).filter((x) => x.spec === 'cypress/e2e/v12/login.cy.js');
  assert.equal(e.labels.duration_ms, '4100');
  assert.deepEqual(e.artifacts.filter((a) => a.url).map((a) => a.name), ['login -- shows an error for a bad password (failed).png']);
});

test('queue down: reports are spooled, the run goes on, and `healloop report --flush` delivers them once', async () => {
  const p = project();
  const { handlers, reporter } = plugin(p, { HEALLOOP_URL: 'http://127.0.0.1:9' });
  await handlers['after:spec']({ ...SPEC(p.root), relative: 'cypress/e2e/down.cy.js' }, v13Results(p));
  await handlers['after:run']();
  assert.equal(reporter.counts.spooled, 2);
  assert.ok(reporter.down.includes('cannot reach the queue'));
  fs.rmSync(p.shot); // Cypress trashes screenshots before the next run; the spool kept a copy

  // Asynchronous: an event loop blocked past the queue's 5 s keep-alive would send the next request
  // on a connection the queue has closed ("fetch failed" on a loaded machine).
  const run = async () => (await execFile(healloopBin(), ['report', '--flush', '--queue', queue.url, '--spool', p.spool], { encoding: 'utf8' })).stdout;
  assert.match(await run(), /2 flushed; 0 waiting/);
  assert.match(await run(), /nothing to send; 0 waiting/);
  const mine = (await queue.events()).filter((e) => e.spec === 'cypress/e2e/down.cy.js');
  assert.equal(mine.length, 2);
  assert.ok(mine.every((e) => e.count === 1));
  const failed = mine.find((e) => e.labels.flaky !== 'true');
  assert.ok(failed.artifacts.some((a) => a.url && a.name.endsWith('(failed).png')), 'the spooled screenshot copy was uploaded');
  // The run's pass waited in <spool>/runs (written here, in JavaScript) and Python's flush delivered it, once.
  assert.equal(reporter.counts.runs_spooled, 1);
  const view = await (await queue.fetch(`/v1/test?spec=cypress/e2e/down.cy.js&test=${encodeURIComponent('login > shows the form')}`)).json();
  assert.deepEqual(view.nodes.map((n) => [n.node, n.passes]), [['laptop-3', 1]]);
});

test('a refused localhost is an event per machine; an assertion is one event for all', async () => {
  const visitError = 'CypressError: `cy.visit()` failed trying to load:\n\nhttp://localhost:3000/\n\n'
    + 'We received this error at the network level:\n\n  > Error: connect ECONNREFUSED 127.0.0.1:3000\n\nhttps://on.cypress.io/visit\n'
    + '    at <unknown> (http://localhost:3000/__cypress/runner/cypress_runner.js:136203:74)';
  const results = {
    stats: { suites: 1, tests: 2, passes: 0, failures: 2 },
    tests: [
      { title: ['shop', 'opens'], state: 'failed', body: '', displayError: visitError, attempts: [{ state: 'failed' }] },
      { title: ['shop', 'shows an error'], state: 'failed', body: '', displayError: DISPLAY_ERROR, attempts: [{ state: 'failed' }] },
    ],
    screenshots: [],
    video: null,
  };
  for (const node of ['laptop-3', 'laptop-4']) {
    const p = project();
    const { handlers } = plugin(p, { HEALLOOP_URL: queue.url, HEALLOOP_NODE: node });
    await handlers['after:spec']({ ...SPEC(p.root), relative: 'cypress/e2e/local.cy.js' }, results);
    await handlers['after:run']();
  }
  const mine = (await queue.events()).filter((e) => e.spec === 'cypress/e2e/local.cy.js');
  const opens = mine.filter((e) => e.test === 'shop > opens').sort((a, b) => a.nodes[0].localeCompare(b.nodes[0]));
  assert.deepEqual(opens.map((e) => [e.nodes, e.count]), [[['laptop-3'], 1], [['laptop-4'], 1]]);
  assert.notEqual(opens[0].fingerprint, opens[1].fingerprint);
  assert.ok(opens.every((e) => e.labels.local_reason === 'connection refused to 127.0.0.1:3000'));
  const shared = mine.filter((e) => e.test === 'shop > shows an error');
  assert.deepEqual(shared.map((e) => [e.nodes, e.count]), [[['laptop-3', 'laptop-4'], 2]]);
  assert.equal('local_reason' in shared[0].labels, false);
});

test('HEALLOOP_REPORT=off: nothing reaches the queue, nothing is spooled or flushed; a bad value is named', async () => {
  const p = project();
  const spooled = () => fs.readdirSync(p.spool).filter((n) => n.endsWith('.json')).sort();
  const earlier = plugin(p, { HEALLOOP_URL: 'http://127.0.0.1:9' });
  await earlier.handlers['after:spec']({ ...SPEC(p.root), relative: 'cypress/e2e/earlier.cy.js' }, v13Results(p));
  const waiting = spooled();
  assert.equal(waiting.length, 2);

  const { handlers, config, reporter } = plugin(p, { HEALLOOP_URL: queue.url, HEALLOOP_REPORT: 'off' });
  assert.equal(config.env.healloopEnabled, false, 'no DOM snapshots for reports that are not sent');
  await handlers['after:spec']({ ...SPEC(p.root), relative: 'cypress/e2e/off.cy.js' }, v13Results(p));
  await handlers['after:run']();
  assert.deepEqual(reporter.counts, { off: 2 });
  const mine = (await queue.events()).filter((e) => ['cypress/e2e/off.cy.js', 'cypress/e2e/earlier.cy.js'].includes(e.spec));
  assert.deepEqual(mine, []);
  assert.deepEqual(spooled(), waiting, 'the earlier run\'s reports wait, untouched, for a run that reports');

  for (const value of ['0', 'false', 'NO']) assert.equal(loadSettings({ HEALLOOP_REPORT: value }).report, false);
  for (const value of [undefined, '', '1', 'on', 'Yes']) assert.equal(loadSettings({ HEALLOOP_REPORT: value }).report, true);
  assert.throws(() => loadSettings({ HEALLOOP_REPORT: 'sometimes' }),
    /^Error: healloop: HEALLOOP_REPORT must be on or off \(or 1\/0, true\/false, yes\/no\), got "sometimes"$/);
});

test('passes are recorded after the run and a quarantined failure is marked', async () => {
  const own = await startQueue(); // its own run history and quarantines
  try {
    const q = { spec: 'cypress/e2e/login.cy.js', test: 'login > shows an error for a bad password', owner: 'ana', seconds: 3600 };
    const made = await fetch(`${own.url}/v1/quarantines`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(q) });
    assert.equal(made.status, 201);
    const p = project();
    const { handlers, reporter } = plugin(p, { HEALLOOP_URL: own.url });
    await handlers['after:spec'](SPEC(p.root), v13Results(p));
    await handlers['after:run']();
    assert.equal(reporter.counts.quarantined, 1);
    const events = await own.events();
    const failed = events.find((e) => e.test === q.test);
    assert.equal(failed.status, 'quarantined');
    assert.equal(failed.labels.quarantined, 'true');
    const view = async (t) => (await own.fetch(`/v1/test?spec=${encodeURIComponent(q.spec)}&test=${encodeURIComponent(t)}`)).json();
    // 'shows the form' passed on its first attempt; 'remembers me' passed only on a retry (a flaky failure).
    assert.deepEqual((await view('login > shows the form')).nodes.map((n) => [n.node, n.passes]), [['laptop-3', 1]]);
    assert.deepEqual((await view('login > remembers me')).nodes.map((n) => [n.node, n.passes, n.failures]), [['laptop-3', 0, 1]]);
  } finally {
    await own.stop();
  }
});
