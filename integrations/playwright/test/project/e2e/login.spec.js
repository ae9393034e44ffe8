const { test, expect } = require('@playwright/test');
const { healloopAfterEach } = require('../../../fixture');

test.afterEach(healloopAfterEach);

test.describe('login', () => {
  test('shows the form', async ({ page }) => {
    await page.goto(`${process.env.APP_URL}/login`);
    await expect(page.locator('button')).toHaveText('Sign in');
  });

  test('shows an error for a bad password', async ({ page }) => {
    await page.goto(`${process.env.APP_URL}/login`);
    await page.fill('#password', 'nope');
    await page.click('button');
    await expect(page.locator('.error')).toHaveText('Wrong password', { timeout: 1000 });
  });
});

test.describe('banner', () => {
  test.describe.configure({ retries: 1 });
  test('appears on the second try', async ({}, testInfo) => {
    expect(testInfo.retry, 'the first attempt fails on purpose').toBe(1);
  });
});
