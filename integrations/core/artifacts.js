'use strict';
// Where one run's screenshots and DOM snapshots go; mirrors src/healloop/sources/artifacts.py.
//
// With HEALLOOP_ARTIFACTS (the tool node's [node] artifacts folder on this machine) a run writes into
// its own subfolder, run-<run id>/<spec -- test>-<digest>/, so runs never overwrite each other, and
// reports each file by its path relative to the artifacts folder: what the node's read_artifact
// takes. Files a test tool wrote elsewhere (Playwright's test-results/, Cypress's screenshots) are
// copied in, since those tools clear their folders on the next run. Each run folder holds a
// .gitignore of '*', so an artifacts folder inside the repository never shows in `git status` or
// slips into an agent's commit.
//
// Without it, files go to a temporary folder that cleanup() deletes at the end of the run, once every
// report is uploaded, or spooled (the spool keeps copies of its own).

const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const RUN_PREFIX = 'run-';
const GITIGNORE = '# written by healloop: test artifacts, never committed\n*\n';
const TRIM = /^[ ._]+|[ ._]+$/g;

// A file name from any text: letters, digits and `_.() -` kept, the rest one `_`.
function slug(text, limit = 80) {
  const s = String(text).replace(/[^\p{L}\p{N}_.() -]+/gu, '_').replace(TRIM, '');
  return s.slice(0, limit).replace(TRIM, '') || 'artifact';
}

function real(p) {
  try { return fs.realpathSync(p); } catch { return path.resolve(p); }
}

function inside(file, root) {
  const rel = path.relative(root, real(file));
  return rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel);
}

class RunFolder {
  // root: the artifacts folder, or null for a temporary one.
  constructor(root, runId) {
    this.root = root ? path.resolve(root) : null;
    this.runId = runId;
    this.temporary = !root;
    this._path = null;
  }

  // Made on first use, so a run without failures leaves nothing behind.
  get path() {
    if (!this._path) this._path = this._make();
    return this._path;
  }

  _make() {
    if (this.root) {
      const folder = path.join(this.root, RUN_PREFIX + slug(this.runId, 64));
      try {
        fs.mkdirSync(folder, { recursive: true });
        this.root = real(this.root); // compared with files' real paths
        const ignore = path.join(folder, '.gitignore');
        if (!fs.existsSync(ignore)) fs.writeFileSync(ignore, GITIGNORE);
        return real(folder);
      } catch (err) {
        // The node cannot read these files then, but the queue still gets its copies.
        console.warn(`healloop: cannot write into the artifacts folder ${this.root} (HEALLOOP_ARTIFACTS): ${err.message}; this run's screenshots and DOM snapshots go to a temporary folder instead`);
        this.root = null;
        this.temporary = true;
      }
    }
    return fs.mkdtempSync(path.join(os.tmpdir(), 'healloop-'));
  }

  // The folder of one failing test in this run (made when missing); readable, and unique by its
  // digest even where two long titles cut to the same name.
  forFailure(spec, test) {
    const digest = crypto.createHash('sha256').update(`${spec}\0${test}`).digest('hex').slice(0, 8);
    const folder = path.join(this.path, `${slug(`${spec} -- ${test}`)}-${digest}`);
    fs.mkdirSync(folder, { recursive: true });
    return folder;
  }

  // With an artifacts folder: a file that lies outside it, copied into the failure's folder.
  adopt(a, spec, test) {
    if (!this.root || !fs.existsSync(a.path)) return a;
    try {
      void this.path; // makes the run folder, and settles this.root (real path, or none after a fallback)
      if (!this.root || inside(a.path, this.root)) return a;
      const dest = path.join(this.forFailure(spec, test), slug(a.name, 120));
      fs.copyFileSync(a.path, dest);
      return { ...a, path: dest };
    } catch (err) {
      console.warn(`healloop: could not copy ${a.path} into the artifacts folder ${this.root}: ${err.message}`);
      return a;
    }
  }

  // What a report names: relative to the artifacts folder when the file is in it.
  reportedPath(file) {
    if (this.root && inside(file, this.root)) return path.relative(this.root, real(file)).split(path.sep).join('/');
    return file;
  }

  // End of the run: delete a temporary folder; in the artifacts folder, only a run folder that got
  // no files (the files stay for the node to read).
  cleanup() {
    if (!this._path) return;
    let empty = true;
    try { empty = fs.readdirSync(this._path).every((n) => n === '.gitignore'); } catch { /* already gone */ }
    if (this.temporary || empty) {
      fs.rmSync(this._path, { recursive: true, force: true });
      this._path = null;
    }
  }
}

module.exports = { RunFolder, slug, GITIGNORE };
