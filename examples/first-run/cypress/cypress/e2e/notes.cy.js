describe('notes', () => {
  beforeEach(() => cy.visit('/'));

  it('adds a note', () => {
    cy.get('[data-testid=note-input]').type('Buy milk');
    cy.get('[data-testid=add-note]').click();
    cy.get('[data-testid=notes]').should('contain', 'Buy milk');
    cy.get('[data-testid=count]').should('have.text', '1 note');
  });

  it('clears every note', () => {
    cy.get('[data-testid=note-input]').type('Call the plumber');
    cy.get('[data-testid=add-note]').click();
    cy.get('[data-testid=clear-notes]').click();
    cy.get('[data-testid=count]').should('have.text', '0 notes');
  });
});
