/** `npm run demo`: prepares the model files and serves the demo page until interrupted. */
import { startDemoServer } from './server.js';

const portArg = process.argv.find((a) => a.startsWith('--port='));
const server = await startDemoServer(
  portArg === undefined ? { port: 5180 } : { port: Number(portArg.slice(7)) },
);
console.log(`FastDepth demo (${server.info.arch}, ${server.info.origin} weights): ${server.url}`);
