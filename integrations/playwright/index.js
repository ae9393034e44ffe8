'use strict';
// healloop-playwright: reporter: [['list'], ['healloop-playwright']] in playwright.config.
// Reports tests whose outcome() is 'unexpected' (and 'flaky' at low priority) once their last
// attempt ended, with location, titlePath(), errors[] and attachments. Attachments with a body (the
// DOM snapshot from fixture.js) are written into the run's folder, and those with a path (the
// screenshot, trace and error context in test-results/) are copied there by the core when
// HEALLOOP_ARTIFACTS names the tool node's artifacts folder: Playwright empties test-results/ at the
// start of every run.

const fs = require('node:fs');
const path = require('node:path');
const crypto = require('node:crypto');
const { loadSettings, Reporter, artifact } = require('healloop-reporter-core');
const { slug } = require('healloop-reporter-core/artifacts');

const ANSI = /\u001b\[[0-9;]*m/g;
const clean = (s) => String(s || '').replace(ANSI, '');

class HealloopReporter {
  constructor(options = {}) {
    this.options = options;
    this.pending = [];
    this.passed = []; // {spec, test} of each test that passed: the run's POST /v1/runs at onEnd
    try {
      this.reporter = new Reporter(loadSettings(process.env, options),
        { runId: process.env.HEALLOOP_RUN_ID || crypto.randomUUID() });
    } catch (err) {
      console.error(err.message); // a bad setting must not stop the run; it is named once
    }
  }

  printsToStdio() { return false; }

  onBegin(config) {
    // Specs are named relative to the project (the config file's folder), as a person runs them.
    this.rootDir = config.configFile ? path.dirname(config.configFile) : config.rootDir;
  }

  onTestEnd(test, result) {
    if (!this.reporter || this.reporter.off) return;
    const willRetry = !['passed', 'skipped'].includes(result.status) && result.retry < test.retries;
    const outcome = test.outcome();
    if (!willRetry && outcome === 'expected' && result.status === 'passed') {
      this.passed.push(this.names(test));
      return;
    }
    if (willRetry || !['unexpected', 'flaky'].includes(outcome)) return;
    try {
      this.pending.push(this.reporter.send(this.failure(test, result, outcome)));
    } catch (err) {
      console.error(`healloop: could not report ${test.title}: ${err.message}`); // never into the run
    }
  }

  // The spec and test as a failure of this test is reported.
  names(test) {
    const file = path.relative(this.rootDir || process.cwd(), test.location.file);
    const project = test.parent.project()?.name;
    const titles = test.titlePath().filter((t, i) => !(i < 3 && (t === '' || t === project || file.endsWith(t))));
    return { spec: file, test: titles.join(' > '), project };
  }

  failure(test, result, outcome) {
    const flaky = outcome === 'flaky';
    const failedResult = flaky ? [...test.results].reverse().find((r) => r.errors.length) : result;
    const errors = failedResult?.errors || [];
    const { spec: file, test: testTitle, project } = this.names(test);
    const message = clean(errors[0]?.message || `test ${result.status}`);
    const labels = { line: `${test.location.line}:${test.location.column}`, status: result.status };
    if (project) labels.project = project;
    const artifacts = [];
    const written = new Set();
    for (const a of flaky ? [] : failedResult.attachments) {
      if (a.name === 'page-url' && a.body) { labels.url = a.body.toString(); continue; }
      if (a.path && fs.existsSync(a.path)) {
        artifacts.push(artifact(a.path, `${a.name === 'screenshot' ? 'screenshot' : a.name}-${path.basename(a.path)}`, a.contentType));
      } else if (a.body) {
        const ext = { 'text/html': '.html', 'image/png': '.png' }[a.contentType] || (a.contentType.includes('json') ? '.json' : '.txt');
        let name = slug(`${a.name}${ext}`, 120);
        for (let n = 2; written.has(name); n++) name = slug(`${a.name}-${n}${ext}`, 120);
        written.add(name);
        try {
          const p = path.join(this.reporter.artifacts.forFailure(file, testTitle), name);
          fs.writeFileSync(p, a.body);
          artifacts.push(artifact(p, `${a.name}${ext}`, a.contentType));
        } catch (err) {
          console.error(`healloop: could not keep the ${a.name} attachment of ${testTitle}: ${err.message}`); // the report goes without it
        }
      }
    }
    return {
      source: 'playwright', spec: file, test: testTitle,
      message: flaky ? `passed on retry ${result.retry} after: ${message}` : message,
      stack: errors.map((e) => clean(e.stack || e.message)).join('\n\n') || null,
      attempt: result.retry + 1, flaky, durationMs: result.duration,
      occurredAt: result.startTime?.toISOString?.(), labels, artifacts,
    };
  }

  async onEnd() {
    if (!this.reporter) return;
    await Promise.all(this.pending);
    await this.reporter.sendRuns(this.passed.map(({ spec, test }) => ({ spec, test })), { source: 'playwright' });
    await this.reporter.finish();
  }
}

module.exports = HealloopReporter;
module.exports.default = HealloopReporter;
