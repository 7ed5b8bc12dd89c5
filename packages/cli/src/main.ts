/**
 * The `fastdepth` command. User mistakes (bad names, bad files, bad options) end with one
 * line on stderr and exit code 1; anything else is a bug and says so.
 */
import { Command, CommanderError, Option } from 'commander';
import { isUserError } from '@fastdepth/graph-dsl';
import { compileCommand } from './commands/compile.js';
import { infoCommand } from './commands/info.js';
import { listCommand } from './commands/list.js';
import { consoleOutput, type Output } from './output.js';
import { TARGET_NAMES } from './targets.js';

export const VERSION = '0.1.0';

export function buildProgram(out: Output): Command {
  const program = new Command('fastdepth')
    .description('Fast monocular depth estimation: FastDepth declared once, compiled to ONNX / TVM / tfjs, run and pruned.')
    .version(VERSION)
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()
    .configureOutput({ writeOut: (s) => out.line(s.trimEnd()), writeErr: (s) => out.error(s.trimEnd()) });

  program
    .command('list')
    .description('list the known architecture names')
    .option('--json', 'machine-readable output')
    .action((o: { json?: boolean }) => listCommand(out, o));

  program
    .command('info')
    .description('layer table (name, op, output shape, MACs, params) and totals of an architecture')
    .requiredOption('--arch <name|file>', 'architecture name (see `fastdepth list`) or saved graph .json')
    .option('--input-size <N|HxW>', 'input size for architecture names, multiples of 32 (default 224)')
    .option('--json', 'machine-readable output')
    .action((o: Parameters<typeof infoCommand>[1]) => infoCommand(out, o));

  program
    .command('compile')
    .description('compile an architecture and its weights to deployable artifacts, checked against the reference executor')
    .option('--arch <name|file>', 'architecture name (see `fastdepth list`) or saved graph .json (default: fastdepth-pruned, or the graph a .onnx/.tflite weights file carries)')
    .addOption(new Option('--target <list>', `comma-separated targets: ${TARGET_NAMES.join(', ')} or all`).default('all'))
    .option('--weights <file>', 'weights: .safetensors (for --arch), .onnx or .tflite (graph recovered from the file); default: seeded initialisation')
    .option('--seed <n>', 'seed for the initialisation when no --weights is given', '0')
    .option('--opset <n>', 'ONNX opset, 13 to 17', '13')
    .option('--fold-bn', 'fold BatchNorm into the convolutions in the ONNX output')
    .option('--input-size <N|HxW>', 'input size for architecture names, multiples of 32 (default 224)')
    .option('--out <dir>', 'output folder', 'out')
    .option('--json', 'machine-readable output')
    .action((o: Parameters<typeof compileCommand>[1]) => compileCommand(out, o));

  return program;
}

/** Runs the CLI; returns the exit code. */
export async function main(argv: readonly string[], out: Output = consoleOutput): Promise<number> {
  const program = buildProgram(out);
  try {
    await program.parseAsync([...argv]);
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : 1; // commander printed the message already
    if (isUserError(e)) {
      out.error(`fastdepth: error: ${e.message}`);
      return 1;
    }
    out.error(`fastdepth: internal error: ${(e as Error).message}`);
    out.error(process.env.FASTDEPTH_DEBUG ? ((e as Error).stack ?? '') : '(this is a bug; set FASTDEPTH_DEBUG=1 to see the stack trace)');
    return 2;
  }
}
