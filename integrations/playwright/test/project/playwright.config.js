// The project the reporter test runs: Debian's Chromium (browsers cannot be downloaded here).
module.exports = {
  testDir: `${__dirname}/e2e`,
  outputDir: process.env.PW_OUTPUT_DIR,
  workers: 1,
  reporter: [['line'], [require.resolve('../../index.js')]],
  use: {
    screenshot: process.env.PW_SCREENSHOT || 'only-on-failure',
    trace: 'retain-on-failure',
    launchOptions: {
      executablePath: '/usr/bin/chromium',
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking',
        '--disable-component-update', '--disable-sync', '--no-first-run'],
    },
  },
};
