// Names are data, never code: a graph named to break out of the header comment or a string
// literal of the generated module must come back as that name, and run nothing.
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { GraphError } from '@fastdepth/graph-dsl';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { emitTfjs, toJavaScript } from './index.js';
import { importGeneratedModule } from './node.js';
import { useBackend } from './testing/harness.js';
import { randomModel, tinyGraph } from './testing/tiny.js';

const PWNED = join(mkdtempSync(join(tmpdir(), 'fastdepth-names-')), 'PWNED');
const marker: Record<string, unknown> = globalThis;

/** Each ends, in its own way, a comment, a line or a string literal, then runs the payload. */
const HOSTILE = [
  `x */ import('node:fs').then(f=>f.writeFileSync(${JSON.stringify(PWNED)},'1')); /* y`,
  'x */ globalThis.PWNED_TFJS = 1; /* y',
  'x\nglobalThis.PWNED_TFJS = 2; //',
  'x\u2028globalThis.PWNED_TFJS = 3; //',
  "x'; globalThis.PWNED_TFJS = 4; '",
  "x\\'; globalThis.PWNED_TFJS = 5; //",
  '${globalThis.PWNED_TFJS = 6}',
  'x""" \'\'\' "; globalThis.PWNED_TFJS = 7; "',
];

/** The code of a JS/TS text with every comment and string literal taken out. */
function codeOutsideStrings(text: string): string {
  const scanner = ts.createScanner(ts.ScriptTarget.ES2022, true, ts.LanguageVariant.Standard, text);
  const code: string[] = [];
  for (let t = scanner.scan(); t !== ts.SyntaxKind.EndOfFileToken; t = scanner.scan()) {
    if (t === ts.SyntaxKind.Unknown) throw new Error(`unscannable text at ${scanner.getTokenStart()}`);
    if (t !== ts.SyntaxKind.StringLiteral && t !== ts.SyntaxKind.NoSubstitutionTemplateLiteral)
      code.push(scanner.getTokenText());
  }
  return code.join(' ');
}

describe('hostile names in the tfjs module', () => {
  it('a hostile graph name, module name, weights file and regenerate line stay data', async () => {
    await useBackend('cpu');
    for (const name of HOSTILE) {
      const emitted = emitTfjs(randomModel({ ...tinyGraph(), name }, 1), {
        moduleName: name,
        weightsFileName: name,
        regenerate: name,
      });
      const { js } = toJavaScript(emitted.source);
      // The payload may sit in a string literal or a (still closed) comment, nowhere else.
      for (const text of [emitted.source, js])
        expect(codeOutsideStrings(text)).not.toMatch(/PWNED|writeFileSync/);
      // The header comment keeps its six lines and ends where it should, not inside a name.
      const lines = emitted.source.split('\n');
      expect(lines[2]).toMatch(/^ \* Architecture "/);
      expect(lines[5]).toBe(' */');
      expect(emitted.source.indexOf('*/')).toBe(lines.slice(0, 5).join('\n').length + 2);
      const { module, manifest, weights } = await importGeneratedModule(emitted);
      expect(module.MODEL_INFO.arch).toBe(name);
      expect(module.MODEL_INFO.moduleName).toBe(name);
      expect(module.MODEL_INFO.weightsFile).toBe(name);
      // The module still works: loads its (hostile-named) weights manifest and runs.
      const w = module.loadWeights(manifest, weights);
      const x = tf.zeros<tf.Rank.R4>([1, 16, 16, 3]);
      const y = module.predict(x, w);
      expect(y.shape).toEqual([1, 16, 16, 1]);
      tf.dispose([x, y]);
      module.dispose(w);
    }
    await new Promise((r) => setTimeout(r, 50)); // a dynamic import() payload would have run by now
    expect(marker.PWNED_TFJS).toBeUndefined();
    expect(existsSync(PWNED)).toBe(false);
  });

  it('a hostile layer name is refused with one line naming it, escaped', () => {
    for (const name of HOSTILE) {
      const graph = tinyGraph();
      const nodes = graph.nodes.map((n) =>
        n.name === 'conv0'
          ? { ...n, name }
          : { ...n, inputs: n.inputs.map((i) => (i === 'conv0' ? name : i)) },
      );
      const run = (): unknown => emitTfjs(randomModel({ ...graph, nodes }, 1));
      expect(run).toThrow(GraphError);
      expect(run).toThrow(
        `layer ${JSON.stringify(name).replace('\u2028', '\\u2028')}: layer names must be identifiers`,
      );
      expect(run).not.toThrow(/[\n\u2028]/);
    }
  });
});
