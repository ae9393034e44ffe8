// @ts-check
const { test, expect } = require('@playwright/test');

test.describe('cart', () => {
  test('adds a product to the cart', async ({ page }) => {
    await page.goto('/');
    await page.locator('[data-testid="add-tea"]').click();
    await expect(page.locator('[data-testid="cart-count"]')).toHaveText('1');
  });
});
