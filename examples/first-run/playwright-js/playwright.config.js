// Runs in Debian's Chromium (browsers cannot be downloaded on these machines).
const { defineConfig } = require('@playwright/test');

module.exports = defineConfig({
  testDir: './e2e',
  timeout: 20000,
  workers: 1,
  reporter: [['list'], ['healloop-playwright']],
  use: {
    baseURL: 'http://127.0.0.1:3000',
    actionTimeout: 3000,
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking',
             '--disable-component-update', '--disable-sync', '--no-first-run'],
    },
  },
  expect: { timeout: 3000 },
  webServer: {
    command: 'node server.js',
    url: 'http://127.0.0.1:3000/healthz',
    reuseExistingServer: true,
  },
});
