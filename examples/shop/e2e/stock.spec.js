// @ts-check
const { test, expect } = require('@playwright/test');

test.describe('stock', () => {
  test('shows how many items are in stock', async ({ page }) => {
    const stock = page.waitForResponse('**/api/stock', { timeout: 3000 });
    await page.goto('/');
    await stock;
    await expect(page.locator('[data-testid="stock"]')).toHaveText('42 items in stock');
  });
});
