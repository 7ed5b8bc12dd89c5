/** The browser the e2e tests drive: Debian's chromium through playwright-core (never a downloaded one). */
export { CHROMIUM, CHROMIUM_ARGS } from '../src/serving.js';
