import { packageTestConfig } from '../../vitest.shared.js';

export default packageTestConfig('runtime-web', { include: ['src/**/*.test.ts', 'demo/**/*.test.ts'] });
