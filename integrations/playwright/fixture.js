'use strict';
// The page at the moment of failure: test.afterEach(healloopAfterEach)
// The page is still open in afterEach; DOM, URL and (when Playwright takes none itself) a screenshot
// ride along as attachments, which the reporter writes into the run's folder (the tool node's
// artifacts folder with HEALLOOP_ARTIFACTS) and uploads.

async function healloopAfterEach({ page, screenshot }, testInfo) {
  if (!page || testInfo.status === testInfo.expectedStatus) return;
  try {
    await testInfo.attach('dom-snapshot', { body: await page.content(), contentType: 'text/html' });
    await testInfo.attach('page-url', { body: page.url(), contentType: 'text/plain' });
    // With `screenshot` 'only-on-failure' (or on) Playwright attaches its own; off, this is the only one.
    const mode = typeof screenshot === 'string' ? screenshot : screenshot?.mode;
    if (!mode || mode === 'off') {
      await testInfo.attach('screenshot', { body: await page.screenshot({ fullPage: true }), contentType: 'image/png' });
    }
  } catch {
    // A crashed or closed page has no DOM to give; the failure is reported without it.
  }
}

module.exports = { healloopAfterEach };
