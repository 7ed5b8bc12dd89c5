/**
 * Every export of the package's entry points has JSDoc, and so does every public member of an
 * exported class: what an editor shows on hover is the documentation most users read.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const src = dirname(fileURLToPath(import.meta.url));
/** The files `exports` in package.json points at. */
const ENTRIES = ['index.ts', 'read-file.ts'].map((f) => join(src, f));

const OPTIONS: ts.CompilerOptions = {
  module: ts.ModuleKind.NodeNext,
  moduleResolution: ts.ModuleResolutionKind.NodeNext,
  target: ts.ScriptTarget.ES2022,
  strict: true,
  noEmit: true,
};

/** `name` for each export without JSDoc, `Class.member` for each undocumented public member. */
function undocumented(program: ts.Program, entry: string): { exports: number; missing: string[] } {
  const checker = program.getTypeChecker();
  const documented = (symbol: ts.Symbol): boolean =>
    ts.displayPartsToString(symbol.getDocumentationComment(checker)).trim() !== '';
  const file = program.getSourceFile(entry)!;
  const module = checker.getSymbolAtLocation(file)!;
  const missing: string[] = [];
  let exports = 0;
  for (const exported of checker.getExportsOfModule(module)) {
    exports++;
    const name = exported.getName();
    const symbol = exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported;
    if (!documented(symbol)) missing.push(name);
    const cls = symbol.declarations?.find(ts.isClassDeclaration);
    for (const member of cls?.members ?? []) {
      if (ts.getCombinedModifierFlags(member) & (ts.ModifierFlags.Private | ts.ModifierFlags.Protected))
        continue;
      if (ts.isClassStaticBlockDeclaration(member) || ts.isSemicolonClassElement(member)) continue;
      if (member.name && ts.isPrivateIdentifier(member.name)) continue;
      if (ts.isConstructorDeclaration(member)) {
        if (ts.getJSDocCommentsAndTags(member).length === 0) missing.push(`${name}.constructor`);
        continue;
      }
      const memberSymbol = member.name ? checker.getSymbolAtLocation(member.name) : undefined;
      if (!memberSymbol || !documented(memberSymbol))
        missing.push(`${name}.${member.name?.getText() ?? '?'}`);
    }
  }
  return { exports, missing };
}

describe('JSDoc on the public API', () => {
  const program = ts.createProgram(ENTRIES, OPTIONS);

  it.each(ENTRIES.map((e) => [e.slice(src.length + 1), e]))(
    'every export of %s is documented',
    (_, entry) => {
      const { exports, missing } = undocumented(program, entry);
      expect(exports).toBeGreaterThan(0);
      expect(missing, 'exports (or public class members) without a JSDoc comment').toEqual([]);
    },
  );

  it('names what lacks a comment', () => {
    const probe = join(mkdtempSync(join(tmpdir(), 'fastdepth-jsdoc-')), 'probe.ts');
    writeFileSync(
      probe,
      [
        '/** Documented. */',
        'export const a = 1;',
        'export const b = 2;',
        '/** Documented. */',
        'export class C {',
        '  constructor(readonly x: number) {}',
        '  /** Documented. */',
        '  m(): void {}',
        '  n(): void {}',
        '  private p(): void {}',
        '}',
        'export type T = number;',
        '',
      ].join('\n'),
    );
    const { exports, missing } = undocumented(ts.createProgram([probe], OPTIONS), probe);
    expect(exports).toBe(4);
    expect(missing.sort()).toEqual(['C.constructor', 'C.n', 'T', 'b']);
  });
});
