'use strict';
// A real `playwright test` run in Debian's Chromium against a small page that fails, reporting to
// a real `healloop serve`.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');
const { spawn } = require('node:child_process');
const { startQueue, readArtifact } = require('healloop-reporter-core/testing');

const PAGE = `<!doctype html><title>Login</title><form onsubmit="event.preventDefault();
  document.querySelector('.error').textContent = 'Incorrect password'">
  <input id="password" type="password"><button>Sign in</button><p class="error"></p></form>`;

let queue;
let app;
before(async () => {
  queue = await startQueue();
  app = http.createServer((req, res) => { res.setHeader('content-type', 'text/html'); res.end(PAGE); });
  await new Promise((r) => app.listen(0, '127.0.0.1', r));
});
after(async () => { await queue.stop(); app.close(); });

// Asynchronous: the page is served from this process, so its event loop must keep running.
function playwright(env) {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'pw-out-'));
  const child = spawn(process.execPath, [require.resolve('@playwright/test/cli'), 'test', '-c', 'test/project/playwright.config.js'], {
    cwd: path.join(__dirname, '..'), timeout: 120000,
    env: { ...process.env, APP_URL: `http://127.0.0.1:${app.address().port}`, PW_OUTPUT_DIR: out,
      HEALLOOP_NODE: 'ci-runner-2', HEALLOOP_REPORT_BUDGET: '0.5', ...env },
  });
  const run = { stdout: '', stderr: '' };
  child.stdout.on('data', (d) => { run.stdout += d; });
  child.stderr.on('data', (d) => { run.stderr += d; });
  return new Promise((resolve) => child.on('close', (status) => resolve({ ...run, status })));
}

test('unexpected and flaky tests are reported with location, title path, errors and attachments', { skip: !fs.existsSync('/usr/bin/chromium') && 'needs /usr/bin/chromium (scripts/setup installs it)' }, async () => {
  const spool = fs.mkdtempSync(path.join(os.tmpdir(), 'pw-spool-'));
  // A temporary folder of the run's own, to see what the run leaves there (short: Chromium puts a
  // socket in it).
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pw-'));
  const run = await playwright({ HEALLOOP_URL: queue.url, HEALLOOP_SPOOL: spool, TMPDIR: tmp });
  assert.equal(run.status, 1, `the suite's own exit code\n${run.stdout}\n${run.stderr}`);
  const events = await queue.events();
  assert.equal(events.length, 2, JSON.stringify(events.map((e) => e.test)));

  const failed = events.find((e) => e.test === 'login > shows an error for a bad password');
  assert.equal(failed.spec, 'e2e/login.spec.js');
  assert.deepEqual(failed.nodes, ['ci-runner-2']);
  assert.match(failed.message, /toHaveText/);
  assert.match(failed.stack, /Incorrect password/);
  assert.match(failed.labels.url, /\/login$/);
  assert.equal(failed.labels.line, '12:3');
  const names = failed.artifacts.filter((a) => a.url).map((a) => a.name);
  for (const want of [/^screenshot-.*\.png$/, /^trace-trace\.zip$/, /^error-context-error-context\.md$/, /^dom-snapshot\.html$/]) {
    assert.ok(names.some((n) => want.test(n)), `${want} in ${names}`);
  }
  const dom = await queue.fetch(failed.artifacts.find((a) => a.name === 'dom-snapshot.html' && a.url).url);
  assert.match(await dom.text(), /<p class="error">Incorrect password<\/p>/);
  // Without HEALLOOP_ARTIFACTS the DOM snapshot went to a temporary folder, deleted once uploaded.
  const bodyPath = failed.artifacts.find((a) => a.name === 'dom-snapshot.html' && a.path).path;
  assert.ok(bodyPath.startsWith(tmp) && !fs.existsSync(bodyPath), bodyPath);
  assert.deepEqual(fs.readdirSync(tmp).filter((n) => n.startsWith('healloop-')), []);
  fs.rmSync(tmp, { recursive: true, force: true });

  const flaky = events.find((e) => e.test === 'banner > appears on the second try');
  assert.equal(flaky.priority, 5);
  assert.equal(flaky.labels.flaky, 'true');
  assert.equal(flaky.labels.attempts, '2');

  // The passing test is recorded in the run history (one POST /v1/runs at the end of the run), named
  // as its failure would be; the flaky one is not counted as a pass.
  const view = async (t) => (await queue.fetch(`/v1/test?spec=e2e/login.spec.js&test=${encodeURIComponent(t)}`)).json();
  const passed = await view('login > shows the form');
  assert.deepEqual(passed.nodes.map((n) => [n.node, n.passes, n.failures]), [['ci-runner-2', 1, 0]]);
  const failing = await view('login > shows an error for a bad password');
  assert.deepEqual(failing.nodes.map((n) => [n.node, n.passes, n.failures]), [['ci-runner-2', 0, 1]]);
});

test('a queue that is down costs the run nothing but the spool', { skip: !fs.existsSync('/usr/bin/chromium') && 'needs /usr/bin/chromium' }, async () => {
  const spool = fs.mkdtempSync(path.join(os.tmpdir(), 'pw-spool-'));
  const run = await playwright({ HEALLOOP_URL: 'http://127.0.0.1:9', HEALLOOP_SPOOL: spool });
  assert.equal(run.status, 1);
  assert.equal((run.stderr.match(/is not taking reports/g) || []).length, 1, run.stderr);
  assert.equal(fs.readdirSync(spool).filter((n) => n.endsWith('.json')).length, 2);
});

test('HEALLOOP_REPORT=off: a failing run reports nothing and says so once', { skip: !fs.existsSync('/usr/bin/chromium') && 'needs /usr/bin/chromium' }, async () => {
  const spool = fs.mkdtempSync(path.join(os.tmpdir(), 'pw-spool-'));
  const before = (await queue.events()).length;
  const run = await playwright({ HEALLOOP_URL: queue.url, HEALLOOP_SPOOL: spool, HEALLOOP_REPORT: 'off' });
  assert.equal(run.status, 1, `the suite's own exit code\n${run.stdout}\n${run.stderr}`);
  assert.equal((run.stdout.match(/healloop: reporting is off \(HEALLOOP_REPORT=off\); nothing sent/g) || []).length, 1, run.stdout);
  assert.equal((await queue.events()).length, before);
  assert.deepEqual(fs.readdirSync(spool), []);
});

test('with HEALLOOP_ARTIFACTS the files are in the node\'s artifacts folder, test-results copied in', { skip: !fs.existsSync('/usr/bin/chromium') && 'needs /usr/bin/chromium' }, async () => {
  const own = await startQueue(); // the failure would merge into the first test's event otherwise
  try {
    const workspace = fs.mkdtempSync(path.join(os.tmpdir(), 'pw-ws-'));
    const config = path.join(workspace, 'healloop.toml');
    fs.writeFileSync(config, '[node]\nworkspace = "."\nartifacts = "out/node-artifacts"\n');
    const folder = path.join(workspace, 'out', 'node-artifacts'); // missing: the reporter makes it
    const run = await playwright({ HEALLOOP_URL: own.url, HEALLOOP_SPOOL: fs.mkdtempSync(path.join(os.tmpdir(), 'pw-spool-')),
      HEALLOOP_ARTIFACTS: folder });
    assert.equal(run.status, 1, `${run.stdout}\n${run.stderr}`);
    const failed = (await own.events()).find((e) => e.test === 'login > shows an error for a bad password');
    const paths = Object.fromEntries(failed.artifacts.filter((a) => a.path).map((a) => [a.name, a.path]));
    const names = Object.keys(paths);
    for (const want of [/^screenshot-.*\.png$/, /^trace-trace\.zip$/, /^error-context-error-context\.md$/, /^dom-snapshot\.html$/]) {
      assert.ok(names.some((n) => want.test(n)), `${want} in ${names}`);
    }
    for (const p of Object.values(paths)) {
      assert.match(p, /^run-[^/]+\/e2e_login\.spec\.js -- login _ shows an error for a bad password-[0-9a-f]{8}\/[^/]+$/);
      assert.ok(fs.statSync(path.join(folder, p)).isFile(), p);
    }
    const [runFolder] = fs.readdirSync(folder);
    assert.equal(fs.readFileSync(path.join(folder, runFolder, '.gitignore'), 'utf8').split('\n')[1], '*');

    const uploaded = await (await own.fetch(failed.artifacts.find((a) => a.name === 'dom-snapshot.html' && a.url).url)).text();
    const nodeCopy = await readArtifact(config, paths['dom-snapshot.html']);
    assert.equal(nodeCopy.text, uploaded);
    assert.match(nodeCopy.text, /<p class="error">Incorrect password<\/p>/);
    const shot = Object.keys(paths).find((n) => n.startsWith('screenshot-'));
    assert.equal((await readArtifact(config, paths[shot])).png, true, 'the screenshot Playwright took, copied from test-results/');
  } finally {
    await own.stop();
  }
});

test('with Playwright\'s screenshots off, the fixture\'s own screenshot reaches the node', { skip: !fs.existsSync('/usr/bin/chromium') && 'needs /usr/bin/chromium' }, async () => {
  const own = await startQueue();
  try {
    const workspace = fs.mkdtempSync(path.join(os.tmpdir(), 'pw-ws-'));
    const config = path.join(workspace, 'healloop.toml');
    fs.writeFileSync(config, '[node]\nworkspace = "."\nartifacts = "node-artifacts"\n');
    const run = await playwright({ HEALLOOP_URL: own.url, HEALLOOP_SPOOL: fs.mkdtempSync(path.join(os.tmpdir(), 'pw-spool-')),
      HEALLOOP_ARTIFACTS: path.join(workspace, 'node-artifacts'), PW_SCREENSHOT: 'off' });
    assert.equal(run.status, 1, `${run.stdout}\n${run.stderr}`);
    const failed = (await own.events()).find((e) => e.test === 'login > shows an error for a bad password');
    const shots = failed.artifacts.filter((a) => a.content_type === 'image/png');
    assert.deepEqual([...new Set(shots.map((a) => a.name))], ['screenshot.png'], 'only the fixture\'s');
    assert.ok(shots.some((a) => a.url), 'uploaded');
    assert.equal((await readArtifact(config, shots.find((a) => a.path).path)).png, true);
  } finally {
    await own.stop();
  }
});
