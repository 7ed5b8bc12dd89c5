import { it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { emitTfjs } from './index.js';
import { randomModel, tinyGraph } from './testing/tiny.js';
it('gen', () => {
  const r = emitTfjs(randomModel(tinyGraph(), 1));
  writeFileSync(new URL('../.tmp/tiny.generated.ts', import.meta.url), r.source);
});
