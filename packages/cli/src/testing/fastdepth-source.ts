/** The CLI from sources, for tests that need it as a separate process (run with tsx). */
import { main } from '../main.js';

process.exitCode = await main(process.argv);
