'use strict';
// DOM snapshot at the moment of failure: test.afterEach(healloopAfterEach)
// The page is still open in afterEach; the snapshot rides along as an attachment the reporter uploads.

async function healloopAfterEach({ page }, testInfo) {
  if (!page || testInfo.status === testInfo.expectedStatus) return;
  try {
    await testInfo.attach('dom-snapshot', { body: await page.content(), contentType: 'text/html' });
    await testInfo.attach('page-url', { body: page.url(), contentType: 'text/plain' });
  } catch {
    // A crashed or closed page has no DOM to give; the failure is reported without it.
  }
}

module.exports = { healloopAfterEach };
