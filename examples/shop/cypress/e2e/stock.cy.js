describe('stock', () => {
  it('shows how many items are in stock', () => {
    cy.intercept('GET', '/api/stock').as('stock');
    cy.visit('/');
    cy.wait('@stock', { responseTimeout: 3000 });
    cy.get('[data-testid="stock"]').should('have.text', '42 items in stock');
  });
});
