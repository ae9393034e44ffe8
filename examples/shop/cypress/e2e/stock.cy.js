describe('stock', () => {
  it('shows how many items are in stock', () => {
    cy.visit('/');
    cy.get('[data-testid="stock"]', { timeout: 3000 }).should('have.text', '42 items in stock');
  });
});
