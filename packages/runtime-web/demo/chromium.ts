/** The browser the e2e tests drive: Debian's chromium through playwright-core (never a downloaded one). */
export const CHROMIUM = '/usr/bin/chromium';

/** Flags every test launch shares (a fresh temporary profile comes from `launch()` itself). */
export const CHROMIUM_ARGS: readonly string[] = [
  '--headless',
  '--no-sandbox',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
