const { test, expect } = require('@playwright/test');
const { healloopAfterEach } = require('healloop-playwright/fixture');

test.afterEach(healloopAfterEach);

test.describe('notes', () => {
  test.beforeEach(async ({ page }) => {
    await page.goto('/');
  });

  test('adds a note', async ({ page }) => {
    await page.getByTestId('note-input').fill('Buy milk');
    await page.getByTestId('add-note').click();
    await expect(page.getByTestId('notes')).toContainText('Buy milk');
    await expect(page.getByTestId('count')).toHaveText('1 note');
  });

  test('clears every note', async ({ page }) => {
    await page.getByTestId('note-input').fill('Call the plumber');
    await page.getByTestId('add-note').click();
    await page.getByTestId('clear-notes').click();
    await expect(page.getByTestId('count')).toHaveText('0 notes');
  });
});
