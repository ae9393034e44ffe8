// @ts-check
const { test, expect } = require('@playwright/test');

test.describe('stock', () => {
  test('shows how many items are in stock', async ({ page }) => {
    await page.goto('/');
    await expect(page.locator('[data-testid="stock"]')).toHaveText('42 items in stock', { timeout: 3000 });
  });
});
