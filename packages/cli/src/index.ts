export { main, buildProgram, VERSION } from './main.js';
export type { Output } from './output.js';
