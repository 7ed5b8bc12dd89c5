import { ARCH_NAMES, describeArch } from '@fastdepth/fastdepth-arch';
import type { Output } from '../output.js';

export function listCommand(out: Output, options: { json?: boolean }): void {
  if (options.json) {
    out.json(ARCH_NAMES.map((name) => ({ name, description: describeArch(name) })));
    return;
  }
  const width = Math.max(...ARCH_NAMES.map((n) => n.length));
  for (const name of ARCH_NAMES) out.line(`${name.padEnd(width)}  ${describeArch(name)}`);
  out.line(`\n${ARCH_NAMES.length} architectures. Any of them, or a saved graph .json, works as --arch.`);
}
