describe('cart', () => {
  it('adds a product to the cart', () => {
    cy.visit('/');
    cy.get('[data-testid="add-tea"]').click();
    cy.get('[data-testid="cart-count"]').should('have.text', '1');
  });
});
