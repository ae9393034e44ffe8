// @ts-check
const { test, expect } = require('@playwright/test');

test.describe('checkout', () => {
  test('shows the order total', async ({ page }) => {
    await page.goto('/');
    await page.locator('[data-testid="add-tea"]').click();
    await page.locator('[data-testid="add-cup"]').click();
    await page.locator('[data-testid="checkout"]').click();
    await expect(page.locator('[data-testid="total"]')).toHaveText('$30.00');
  });
});
