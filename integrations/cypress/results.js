'use strict';
// Turns one spec's `after:spec` results (the shapes Cypress 12 and 13+ document) into failures.

const path = require('node:path');
const { artifact } = require('healloop-reporter-core');

// Cypress names automatic screenshots "<titles joined by ' -- '> (failed)[ (attempt N)].png" after
// removing characters file systems refuse; comparing letters and digits only survives that.
const squash = (s) => String(s).normalize('NFC').replace(/[^\p{L}\p{N}]+/gu, '').toLowerCase();

function screenshotsOf(test, results) {
  const want = squash(test.title.join(' -- '));
  const found = new Set();
  for (const a of test.attempts || []) for (const s of a.screenshots || []) if (s.path) found.add(s.path); // Cypress 12
  for (const s of results.screenshots || []) { // run level, Cypress 13+
    const base = path.basename(s.path || '').replace(/ \(failed\)( \(attempt \d+\))?\.png$/, '').replace(/\.png$/, '');
    if (s.path && (squash(s.name || '') === want || squash(base) === want)) found.add(s.path);
  }
  return [...found];
}

function failuresOf(spec, results, { projectRoot } = {}) {
  const relative = spec.relative || (projectRoot ? path.relative(projectRoot, spec.absolute) : spec.name);
  const out = [];
  for (const test of results.tests || []) {
    const attempts = test.attempts || [];
    const failedAttempts = attempts.filter((a) => a.state === 'failed').length;
    const failed = test.state === 'failed';
    const flaky = test.state === 'passed' && failedAttempts > 0;
    if (!failed && !flaky) continue;
    // Cypress 13 removed per-attempt errors: displayError is the failure text (message + stack).
    const lastError = [...attempts].reverse().find((a) => a.error)?.error;
    const text = test.displayError || (lastError ? `${lastError.name}: ${lastError.message}\n${lastError.stack || ''}` : '');
    const lines = text.split('\n');
    const at = lines.findIndex((l) => /^\s+at /.test(l));
    const message = (at > 0 ? lines.slice(0, at) : lines).join('\n').trim();
    const duration = attempts.reduce((sum, a) => sum + (a.wallClockDuration ?? a.duration ?? 0), 0);
    out.push({
      source: 'cypress', spec: relative, test: test.title.join(' > '),
      message: flaky ? `passed after ${failedAttempts} failed attempt(s): ${message}` : message,
      stack: text || null, attempt: Math.max(attempts.length, 1), flaky,
      durationMs: duration || undefined, titlePath: test.title,
      artifacts: flaky ? [] : screenshotsOf(test, results).map((p) => artifact(p)),
    });
  }
  return out;
}

// The tests of one spec that passed on their first attempt (a pass after failed attempts is reported
// as a flaky failure instead), named as failuresOf names a failure.
function passesOf(spec, results, { projectRoot } = {}) {
  const relative = spec.relative || (projectRoot ? path.relative(projectRoot, spec.absolute) : spec.name);
  return (results.tests || [])
    .filter((t) => t.state === 'passed' && !(t.attempts || []).some((a) => a.state === 'failed'))
    .map((t) => ({ spec: relative, test: t.title.join(' > ') }));
}

module.exports = { failuresOf, passesOf, screenshotsOf };
