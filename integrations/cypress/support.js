// healloop-cypress support file: import 'healloop-cypress/support' in cypress/support/e2e.js.
// Cypress.on('fail') cannot run commands, so the DOM is taken in afterEach, which still runs after
// a failed test, and handed to the node side with cy.task.
afterEach(function () {
  const test = this.currentTest;
  if (!Cypress.env('healloopEnabled') || !test || test.state !== 'failed') return;
  cy.document({ log: false }).then((doc) => {
    cy.url({ log: false }).then((url) => {
      cy.task('healloop:dom', {
        spec: Cypress.spec.relative, titlePath: test.titlePath(), html: doc.documentElement.outerHTML, url,
      }, { log: false });
    });
  });
});
