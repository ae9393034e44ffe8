'use strict';
// The spec a report carries is a path inside the repository, as the queue requires; the same rules as
// repo_spec in Python's sources/failure.py.
const test = require('node:test');
const assert = require('node:assert');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { repoSpec, toReport } = require('..');

test('inside paths are sent as they are; others are brought inside a repository', () => {
  assert.strictEqual(repoSpec('e2e/login.spec.ts'), 'e2e/login.spec.ts');
  assert.strictEqual(repoSpec('e2e\\login.spec.ts'), 'e2e\\login.spec.ts');
  assert.strictEqual(repoSpec('../../etc/passwd', '/nonexistent/a/b'), 'etc/passwd');
  assert.strictEqual(repoSpec('C:\\ci\\shop\\e2e\\a.spec.js'), 'e2e/a.spec.js');
  assert.strictEqual(repoSpec('tests/../tests/a.spec.js', '/nonexistent'), 'tests/a.spec.js');
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'hl-spec-'));
  try {
    fs.mkdirSync(path.join(tmp, 'shop', '.git'), { recursive: true });
    const spec = path.join(tmp, 'shop', 'e2e', 'cart.spec.js');
    assert.strictEqual(repoSpec(spec, path.join(tmp, 'elsewhere')), 'e2e/cart.spec.js');
    assert.strictEqual(repoSpec('../shop/e2e/cart.spec.js', path.join(tmp, 'playwright')), 'e2e/cart.spec.js');
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});

test('a report never carries a name the queue refuses', () => {
  const body = toReport({ source: 'playwright', spec: '/abs/where/x.spec.js', test: 'a\u0000b', message: 'm' },
    'ci-1', 'k');
  assert.strictEqual(body.spec, 'where/x.spec.js');
  assert.strictEqual(body.test, 'ab');
  assert.strictEqual(toReport({ source: 'p', spec: 'x.js', test: '   ', message: 'm' }, 'n', 'k').test, '(unnamed test)');
});
