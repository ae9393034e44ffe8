'use strict';
// healloop-cypress: in cypress.config.js,
//   setupNodeEvents(on, config) { return require('healloop-cypress')(on, config) }
// and in the support file: import 'healloop-cypress/support'

const fs = require('node:fs');
const path = require('node:path');
const crypto = require('node:crypto');
const { loadSettings, Reporter, artifact } = require('healloop-reporter-core');
const { slug } = require('healloop-reporter-core/artifacts');
const { failuresOf, passesOf } = require('./results');

function healloop(on, config = {}, options = {}) {
  const env = { ...process.env };
  for (const name of ['HEALLOOP_URL', 'HEALLOOP_TOKEN', 'HEALLOOP_NODE', 'HEALLOOP_SPOOL', 'HEALLOOP_REPORT_BUDGET', 'HEALLOOP_REPORT', 'HEALLOOP_ARTIFACTS']) {
    if (config.env && config.env[name] && !env[name]) env[name] = String(config.env[name]);
  }
  let reporter;
  try {
    reporter = new Reporter(loadSettings(env, options), { runId: env.HEALLOOP_RUN_ID || crypto.randomUUID() });
  } catch (err) {
    console.error(err.message); // a bad setting must not stop the test run; it is named once
    return config;
  }
  // DOM snapshots go into the run's folder (the node's artifacts folder with HEALLOOP_ARTIFACTS, where
  // the core also copies the screenshots; else a temporary one, deleted at after:run).
  const doms = new Map(); // spec \0 title > path  ->  {file, url}
  const key = (spec, titlePath) => `${spec}\0${titlePath.join(' > ')}`;

  on('task', {
    'healloop:dom'({ spec, titlePath, html, url }) {
      try {
        const name = slug(`${path.basename(spec)} -- ${titlePath.join(' -- ')}.dom.html`, 120);
        const file = path.join(reporter.artifacts.forFailure(spec, titlePath.join(' > ')), name);
        fs.writeFileSync(file, html);
        doms.set(key(spec, titlePath), { file, url });
      } catch (err) {
        console.error(`healloop: could not keep the DOM snapshot: ${err.message}`);
      }
      return null; // cy.task needs a value other than undefined
    },
  });

  const passed = []; // of every spec, sent in one POST /v1/runs at after:run
  // Returning the promise makes Cypress wait until the reports are sent or spooled.
  on('after:spec', (spec, results) => {
    if (!results) return Promise.resolve();
    passed.push(...passesOf(spec, results, { projectRoot: config.projectRoot }));
    const sends = failuresOf(spec, results, { projectRoot: config.projectRoot }).map((f) => {
      const dom = doms.get(key(f.spec, f.titlePath));
      if (dom && !f.flaky) {
        f.artifacts.push(artifact(dom.file, `${path.basename(f.spec)} -- ${f.titlePath.join(' -- ')}.dom.html`, 'text/html'));
        f.labels = { url: dom.url };
      }
      return reporter.send(f);
    });
    return Promise.all(sends).then(() => undefined);
  });

  on('after:run', async () => {
    await reporter.sendRuns(passed, { source: 'cypress' });
    await reporter.finish();
  });

  // Off, the support file need not take DOM snapshots no report would carry.
  config.env = { ...(config.env || {}), healloopEnabled: !reporter.off };
  healloop.reporter = reporter; // for tests and for users who want the counts
  return config;
}

module.exports = healloop;
module.exports.default = healloop;
