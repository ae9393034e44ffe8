'use strict';
// The reporter core's isLocal and toReport against the vectors the Python sources are tested with
// (tests/sources/fixtures/locality.json), so both sides mark the same failures local.

const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { isLocal, toReport } = require('healloop-reporter-core');
const { REPO } = require('healloop-reporter-core/testing');

const VECTORS = JSON.parse(fs.readFileSync(path.join(REPO, 'tests', 'sources', 'fixtures', 'locality.json'), 'utf8'));

test('the vectors cover both answers', () => {
  assert.ok(VECTORS.every((v) => (v.reason !== null) === v.local));
  assert.ok(VECTORS.filter((v) => v.local).length >= 10 && VECTORS.filter((v) => !v.local).length >= 10);
});

for (const v of VECTORS) {
  test(`isLocal: ${v.name}`, () => {
    assert.equal(isLocal(v.message, v.stack), v.reason);
  });
}

const failure = (message, stack) => ({ source: 'cypress', spec: 'cypress/e2e/shop.cy.js', test: 'checkout', message, stack });

test('toReport marks a local failure and says why', () => {
  const body = toReport(failure('Error: connect ECONNREFUSED 127.0.0.1:3000'), 'laptop-3', 'k1');
  assert.equal(body.local, true);
  assert.equal(body.labels.local_reason, 'connection refused to 127.0.0.1:3000');
});

test('toReport leaves a shared failure unmarked', () => {
  for (const message of ['AssertionError: expected 10 to equal 12', 'Error: connect ECONNREFUSED 10.0.0.5:5432']) {
    const body = toReport(failure(message), 'laptop-3', 'k1');
    assert.equal('local' in body, false);
    assert.equal('local_reason' in body.labels, false);
  }
});

test('a huge host name is cut to fit a label', () => {
  const body = toReport(failure(`Error: connect ECONNREFUSED ${'a'.repeat(3000)}.localhost:3000`), 'laptop-3', 'k1');
  assert.equal(body.local, true);
  assert.ok(body.labels.local_reason.length <= 1024);
});
