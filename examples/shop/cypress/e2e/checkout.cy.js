describe('checkout', () => {
  it('shows the order total', () => {
    cy.visit('/');
    cy.get('[data-testid="add-tea"]').click();
    cy.get('[data-testid="add-cup"]').click();
    cy.get('[data-testid="checkout"]').click();
    cy.get('[data-testid="total"]').should('have.text', '$30.00');
  });
});
