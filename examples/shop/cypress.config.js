// The same specs for Cypress users. Cypress's own binary cannot be downloaded on the machines
// healloop is developed on, so this suite is not run in CI here; the Playwright suite is.
const { defineConfig } = require('cypress');

module.exports = defineConfig({
  e2e: {
    baseUrl: process.env.SHOP_URL || 'http://127.0.0.1:8080',
    specPattern: 'cypress/e2e/**/*.cy.js',
    supportFile: false,
    setupNodeEvents(on, config) {
      // With healloop-cypress installed, one line reports failures to the queue:
      // require('healloop-cypress').register(on, config);
      return config;
    },
  },
});
