/** The host moved to src/host.ts (compile's parity check uses it too); tests import it here. */
export * from '../host.js';
