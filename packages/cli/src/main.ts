/**
 * The `fastdepth` command. User mistakes (bad names, bad files, bad options) end with one
 * line on stderr and exit code 1; anything else is a bug and says so.
 */
import { Command, CommanderError, Option } from 'commander';
import { isUserError } from '@fastdepth/graph-dsl';
import { compileCommand } from './commands/compile.js';
import { evalCommand } from './commands/eval.js';
import { predictCommand } from './commands/predict.js';
import { pruneCommand } from './commands/prune.js';
import { workerCommand } from './commands/worker.js';
import { latencyCheckCommand } from './commands/latency-check.js';
import { latencyServerCommand } from './commands/latency-server.js';
import { latencyClearCommand } from './commands/latency-clear.js';
import { infoCommand } from './commands/info.js';
import { listCommand } from './commands/list.js';
import { DEFAULT_ENGINE, ENGINES, PRECISIONS } from './engine.js';
import { errorLine } from './errors.js';
import { consoleOutput, type Output } from './output.js';
import { TARGET_NAMES } from './targets.js';

export const VERSION = '0.1.0';

const ENGINE_HELP =
  'the emitted ONNX in onnxruntime, the generated tfjs code, or the network compiled to one ' +
  'WebAssembly SIMD module (wasm, threads in worker_threads); onnx is the default because ' +
  'onnxruntime-node is the fastest engine in Node (7 ms against 36 ms for tfjs-wasm per 224x224 ' +
  'frame of fastdepth-pruned, measured on 2 cores)';

const LATENCY_ON_HELP =
  'where --metric latency is measured: node (default; --backend wasm = tfjs-wasm, onnx = onnxruntime-node) or ' +
  'chromium[:THREADS[:wasm|webgl|webgpu]], a local headless Chromium, cross-origin isolated (--backend wasm = ' +
  'generated tfjs, onnx = onnxruntime-web), e.g. chromium:2';
const BACKEND_HELP =
  'latency runtime for --metric latency: wasm = generated tfjs on tfjs-wasm, onnx = onnxruntime (-node in Node, -web in Chromium), ' +
  'wasm-engine = the network compiled to one WebAssembly SIMD module (Node, one thread), ' +
  'cost-model = a deterministic estimate from MACs and memory (no timing: tests and dry runs)';
const FRESH_HELP =
  'drop the cached latency tables first and measure every entry again (same as `fastdepth latency clear`)';
const NOISY_HELP =
  'measure even when the machine is too busy (timings still spread past 25 % after dividing out the reference probe); the table records it';
const LATENCY_TABLE_HELP =
  'a latency table a device measured with `fastdepth latency-server` (read only: a missing entry is an error naming the layer)';

const PRECISION_HELP =
  "wasm engine: int8 runs the weights' own int8 model (an int8 .tflite such as the paper's) as TFLite computes it, float32 its dequantised float reading; auto (default) is int8 when there is one";
const INT8_ARITHMETIC_HELP =
  "how the int8 model's integers are requantised: xnnpack (default: XNNPACK's float32 requantisation, what TFLite's default CPU delegate and LiteRT.js compute, so the engine gives their integers) or tflite (TFLite's reference fixed-point kernels, what the file format specifies; differs from xnnpack by one output step on some pixels)";
const THREADS_HELP =
  'threads: onnx (onnxruntime-node intra-op, or onnxruntime-web) and wasm (worker_threads); tfjs runs one in Node';

export function buildProgram(out: Output): Command {
  const program = new Command('fastdepth')
    .description(
      'Fast monocular depth estimation: FastDepth declared once, compiled to ONNX / TVM / tfjs / WebAssembly, run and pruned.',
    )
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
    .option('--input-size <N|HxW>', 'input size, multiples of 32 up to 4096 (default 224)')
    .option('--json', 'machine-readable output')
    .action((o: Parameters<typeof infoCommand>[1]) => infoCommand(out, o));

  program
    .command('compile')
    .description(
      'compile an architecture and its weights to deployable artifacts, checked against the reference executor',
    )
    .option(
      '--arch <name|file>',
      'architecture name (see `fastdepth list`) or saved graph .json (default: fastdepth-pruned, or the graph a .onnx/.tflite weights file carries)',
    )
    .addOption(
      new Option(
        '--target <list>',
        `comma-separated targets: ${TARGET_NAMES.join(', ')} or all (all skips, with the reason, a target that cannot take the graph; a target named explicitly must compile)`,
      ).default('all'),
    )
    .option(
      '--weights <file>',
      'weights: .safetensors (for --arch), .onnx or .tflite (graph recovered from the file); default: seeded initialisation',
    )
    .option('--seed <n>', 'seed for the initialisation when no --weights is given', '0')
    .option('--opset <n>', 'ONNX opset, 13 to 17', '13')
    .option(
      '--fold-bn',
      'fold BatchNorm into the convolutions in the ONNX and TVM outputs (tfjs always folds)',
    )
    .option('--input-size <N|HxW>', 'input size, multiples of 32 up to 4096 (default 224)')
    .option(
      '--weights-dtype <dtype>',
      'tfjs and wasm weights files: float32 (default), float16 (2x smaller) or int8 per-channel (about 3.7x smaller), dequantised at load',
    )
    .option(
      '--for-web',
      "write only what a web page loads or an app bundles (into an app's model folder): the tfjs module as .js/.d.ts and its weights, the .onnx, the wasm builds; no graph JSON, .safetensors or TypeScript; --target defaults to tfjs,onnx,wasm",
    )
    .option(
      '--quantize <scheme>',
      'also write the model quantised after training: int8 (TFLite full-integer scheme: per-channel int8 weights, int32 biases, per-tensor int8 activations calibrated on --images)',
    )
    .option(
      '--images <dir>',
      'with --quantize: photos (any scenes; png/jpg/webp/tif) to calibrate the activation ranges on, prepared as runtime-web prepares an image',
    )
    .option(
      '--calibration <method>',
      'with --quantize: activation ranges from the min/max of the calibration outputs (minmax, default) or their --percentile (percentile: rare outliers saturate)',
    )
    .option(
      '--percentile <p>',
      'with --calibration percentile: the percentile kept at each end, above 50 and at most 100 (default 99.99)',
    )
    .option(
      '--holdout <n>',
      'with --quantize: photos of --images not calibrated on, to report int8 vs float agreement on (default: one in five, at least 1)',
    )
    .option('--int8-arithmetic <a>', `with --quantize: ${INT8_ARITHMETIC_HELP}`)
    .option('--out <dir>', 'output folder', 'out')
    .option('--json', 'machine-readable output')
    .addHelpText(
      'after',
      `
Post-training quantisation (--quantize int8): BatchNorm is folded, weights become int8 per
output channel, activations int8 per tensor on ranges the float reference executor sees on the
calibration photos; the int8 reference executor then runs the held-out photos and the command
prints its agreement with the float network (mean relative difference, pixels within one output
step, AbsRel and delta1 against the float output). Written beside the float artifacts:
NAME.int8.json (the graph with its "quantization" annotation) and NAME.int8.safetensors
(I8 weights, I32 biases); with --target wasm also the int8 wasm build. --int8-arithmetic
picks the requantisation the int8 model declares and the wasm build computes: xnnpack
(default; LiteRT.js's and TFLite-on-CPU's integers) or tflite (TFLite's reference kernels);
both define bilinear resizes (the BLConv decoders), each with its own rounding.

Examples:
  fastdepth compile --weights fast_depth_224.tflite --target onnx
  fastdepth compile --weights fast_depth_224.tflite --target wasm --weights-dtype int8 --for-web --out app/model
  fastdepth compile --weights fast_depth_224.tflite --target wasm --quantize int8 --images photos/
  fastdepth compile --arch fastdepth-pruned --quantize int8 --images photos/ --calibration percentile --holdout 4`,
    )
    .action((o: Parameters<typeof compileCommand>[1]) => compileCommand(out, o));

  program
    .command('predict')
    .description(
      'estimate depth for one image (PNG/JPEG/...): writes the coloured depth map, prints depth range and latency',
    )
    .argument('<image>', 'the input image')
    .option(
      '--arch <name|file>',
      'architecture name or saved graph .json (default: fastdepth-pruned, or the graph the weights file carries)',
    )
    .option(
      '--weights <file>',
      "weights: .safetensors, .onnx or .tflite (e.g. the paper's fast_depth_224.tflite)",
    )
    .option('--seed <n>', 'seed for the initialisation when no --weights is given', '0')
    .option(
      '--input-size <N|HxW>',
      "network input size, multiples of 32 up to 4096 (default 224, or the weights file's own)",
    )
    .addOption(new Option('--engine <engine>', ENGINE_HELP).choices([...ENGINES]).default(DEFAULT_ENGINE))
    .addOption(
      new Option(
        '--backend <backend>',
        'onnx: cpu (onnxruntime-node, default) or wasm (onnxruntime-web); tfjs: wasm (default) or cpu; wasm: wasm',
      ).choices(['wasm', 'cpu']),
    )
    .option('--threads <n>', THREADS_HELP, '1')
    .addOption(new Option('--precision <p>', PRECISION_HELP).choices([...PRECISIONS]).default('auto'))
    .option('--int8-arithmetic <a>', `wasm engine, int8 model: ${INT8_ARITHMETIC_HELP}`)
    .option(
      '--out <file>',
      "coloured depth map at the input image's size with a colour bar in metres: .png (parts the network did not see are transparent), or .jpg/.jpeg",
      'depth.png',
    )
    .option(
      '--npy <file>',
      "also write the depth in metres at the network's resolution as .npy (float32, H x W)",
    )
    .addOption(new Option('--colormap <name>', 'colour map').choices(['turbo', 'viridis']).default('turbo'))
    .option(
      '--range <min,max|percentile|full>',
      "colour scale: fixed in metres, e.g. 0,10, so colours mean the same depth in every picture; percentile (default: the 2nd to 98th percentile of the image's depth, so isolated outliers do not flatten the picture); full (its whole range)",
    )
    .option('--side-by-side', 'write the image and its depth next to each other')
    .option('--json', 'machine-readable output')
    .action((image: string, o: Parameters<typeof predictCommand>[2]) => predictCommand(out, image, o));

  program
    .command('eval')
    .description(
      'depth metrics as the FastDepth authors compute them (RMSE, AbsRel, log10, delta1..3) over NYU Depth v2 data',
    )
    .requiredOption(
      '--data <path>',
      'folder of NYU .h5 files (recursive), folder with rgb.npy + depth.npy, a .h5 file, or RGB.npy,DEPTH.npy',
    )
    .option('--weights <file>', 'weights: .safetensors, .onnx or .tflite')
    .option(
      '--arch <name|file>',
      'architecture name or saved graph .json (default: fastdepth-pruned, or the graph the weights file carries)',
    )
    .addOption(new Option('--engine <engine>', ENGINE_HELP).choices([...ENGINES]).default(DEFAULT_ENGINE))
    .addOption(new Option('--backend <backend>', 'see predict').choices(['wasm', 'cpu']))
    .option('--threads <n>', THREADS_HELP, '1')
    .addOption(new Option('--precision <p>', PRECISION_HELP).choices([...PRECISIONS]).default('auto'))
    .option('--int8-arithmetic <a>', `wasm engine, int8 model: ${INT8_ARITHMETIC_HELP}`)
    .option('--limit <n>', 'evaluate at most the first N frames')
    .option(
      '--compare-pred <file>',
      'a reference prediction .npy for a single frame: prints the mean relative difference',
    )
    .option('--json', 'machine-readable output')
    .action((o: Parameters<typeof evalCommand>[1]) => evalCommand(out, o));

  program
    .command('prune')
    .description(
      'NetAdapt: shrink a network to a MACs / latency / params budget, repairing each cut by a least-squares refit against the starting network on calibration photos; writes every accepted variant',
    )
    .option(
      '--arch <name|file>',
      'architecture name or saved graph .json (default: fastdepth, or the graph the weights file carries)',
    )
    .option('--weights <file>', 'weights to start from: .safetensors, .onnx or .tflite; default: seeded')
    .option(
      '--target <list>',
      `targets the final network is compiled to: ${TARGET_NAMES.join(', ')} or all (default: every target that can take it)`,
    )
    .option('--seed <n>', 'seed for the initialisation, the crops and the fine-tuning batch order', '0')
    .option('--input-size <N|HxW>', 'input size the resource is measured at (default 224)')
    .requiredOption('--budget <fraction>', 'target as a fraction of the starting resource, e.g. 0.5')
    .addOption(
      new Option('--metric <metric>', 'resource to meet')
        .choices(['macs', 'latency', 'params'])
        .default('macs'),
    )
    .addOption(
      new Option('--backend <runtime>', BACKEND_HELP)
        .choices(['wasm', 'onnx', 'wasm-engine', 'cost-model'])
        .default('wasm'),
    )
    .option('--latency-on <where>', LATENCY_ON_HELP)
    .option('--latency-table <file>', LATENCY_TABLE_HELP)
    .option('--fresh-latency', FRESH_HELP)
    .option('--allow-noisy', NOISY_HELP)
    .option(
      '--images <dir>',
      'calibration photos (any scenes): refit targets and the ranking come from the starting network on augmented crops of them',
    )
    .option(
      '--data <path>',
      'NYU frames (as in eval --data) as calibration images; their labels drive --short/--long-steps fine-tuning',
    )
    .addOption(
      new Option(
        '--channels <rule>',
        'which channels a cut unit keeps: least reconstruction error (greedy) or largest filter L2 norm',
      )
        .choices(['reconstruction', 'l2'])
        .default('reconstruction'),
    )
    .addOption(
      new Option(
        '--selection <rule>',
        'which proposal an iteration keeps: the best proxy, or the least proxy lost per resource saved',
      )
        .choices(['best', 'ratio'])
        .default('best'),
    )
    .option(
      '--reduction <fraction>',
      "first iteration's resource cut as a fraction of the start (NetAdapt's dR0; it decays by 0.96 per iteration)",
      '0.025',
    )
    .option('--calibration <n>', 'augmented calibration crops the refit is fitted on', '128')
    .option('--scoring <n>', 'augmented crops proposals are ranked on (of the --ranking-photos)', '32')
    .option(
      '--holdout <n>',
      'photos of --images never used while pruning, to report agreement on (default: one in five)',
    )
    .option(
      '--ranking-photos <n>',
      'photos of --images the ranking crops come from, never fitted on (default: one in four of those not held out; 0: rank on other crops of the calibration photos)',
    )
    .option('--short-steps <n>', 'optional gradient fine-tune steps per proposal, after the refit', '0')
    .option('--long-steps <n>', 'optional gradient fine-tune steps of the final network', '0')
    .option(
      '--block-recovery',
      'after each iteration, also correct k x k and depthwise convs against the start (1x1 corrections fitted by least squares, merged back)',
    )
    .option(
      '--tune-steps <n>',
      'safe fine-tune of the result: at most N distillation steps, early-stopped on agreement with the start; never ends worse',
    )
    .option('--lr <x>', 'safe fine-tune peak learning rate (Adam; default 1e-5)')
    .option('--schedule <name>', 'safe fine-tune learning-rate schedule: cosine (default), constant, step')
    .option('--patience <n>', 'safe fine-tune: stop after N checks without improvement (default 3)')
    .option('--eval-every <n>', 'safe fine-tune: steps between agreement checks (default steps / 10)')
    .option(
      '--tune-loss <name>',
      'safe fine-tune loss: depth (L1 on depth, default) or features (+ feature matching)',
    )
    .option(
      '--teacher <file>',
      'distillation teacher for the fine-tuning (.safetensors with --arch, .onnx, .tflite); default: the starting model',
    )
    .option(
      '--resolution <n>',
      'fine-tuning resolution (the network is fully convolutional), multiple of 32',
      '128',
    )
    .option('--batch-size <n>', 'fine-tuning batch size', '4')
    .option('--workers <n>', 'worker threads fine-tuning proposals (0 = in-process; default min(2, cores))')
    .option(
      '--queue <url>',
      'run proposals on `fastdepth worker` processes through Redis: redis://[user:pass@]HOST:PORT[/db] or rediss:// (TLS)',
    )
    .option('--queue-name <name>', 'BullMQ queue name (default fastdepth-netadapt)')
    .option(
      '--keep-iterations <n>',
      'keep the files of only the last N accepted iterations (each is a full model: about 15 MB for fastdepth); default all',
    )
    .option('--out <dir>', 'output folder for iterations, plot and the final compiled variant', 'out/prune')
    .option('--resume', 'continue from the last finished iteration in --out')
    .option('--overwrite', 'replace a previous run in --out')
    .option('--json', 'machine-readable output')
    .addHelpText(
      'after',
      `
Recovery: with --images/--data, each proposal keeps the channels whose removal costs least
reconstruction error, its 1x1 consumers are refitted by least squares to the starting network's
outputs, and after each iteration every 1x1 conv after the cut is refitted in order; proposals are ranked by
agreement with the starting network's depth (delta1, AbsRel) at the network's resolution. Without
images the run is data-free: filter norms only, and it says so.

Disk: every accepted iteration is a full model (about 15 MB for fastdepth, 5 MB for
fastdepth-pruned); --keep-iterations N keeps the last N. Ctrl-C stops after the current iteration;
--resume continues.

Examples:
  fastdepth prune --weights fast_depth_224.tflite --metric latency --budget 0.7 --images photos/
  fastdepth prune --arch fastdepth --metric macs --budget 0.5          (data-free, under a minute)`,
    )
    .action((o: Parameters<typeof pruneCommand>[1]) => pruneCommand(out, o));

  program
    .command('worker')
    .description(
      'run NetAdapt proposals from a `prune --queue` coordinator (any machine that reaches Redis); Ctrl-C stops',
    )
    .requiredOption('--queue <url>', 'redis://[user:pass@]HOST:PORT[/db] or rediss:// (TLS)')
    .option('--queue-name <name>', 'BullMQ queue name (default fastdepth-netadapt)')
    .option('--concurrency <n>', 'proposals run at once in this process', '1')
    .option('--name <name>', 'name shown by the coordinator (default host:pid)')
    .option(
      '--lock-seconds <n>',
      "a job's lock; a killed worker's job goes to another after about 1.5x this (must exceed a proposal's longest pause)",
      '120',
    )
    .action((o: Parameters<typeof workerCommand>[1]) => workerCommand(out, o));

  program
    .command('latency-server')
    .description(
      'serve a page any browser can open (URL + QR code) to measure a latency table there, one table per device, for prune --latency-table',
    )
    .option(
      '--arch <name|file>',
      'the network to measure for (default: fastdepth, or the graph the weights file carries)',
    )
    .option('--weights <file>', 'weights file whose graph is measured (.onnx, .tflite; values do not matter)')
    .option('--input-size <N|HxW>', 'input size (default 224)')
    .option('--seed <n>', 'seed of the random weights timed', '0')
    .option('--port <n>', 'port', '5190')
    .option(
      '--host <address>',
      'address to listen on (0.0.0.0: every interface, so phones on the network reach it; anyone there can then open the page)',
      '127.0.0.1',
    )
    .option('--max-devices <n>', 'devices measured at once; one more is refused', '32')
    .option('--step <n>', 'grid spacing of the channel counts measured', '32')
    .option('--min-fraction <f>', 'measure each layer down to this fraction of its width', '0.25')
    .option('--runs <n>', 'timed runs per model (the median is kept)', '5')
    .option('--warmup <n>', 'untimed runs before them', '2')
    .option('--out <dir>', 'folder of the per-device tables', 'latency-tables')
    .option('--no-qr', 'do not print the QR code')
    .option('--exit-after <n>', 'stop once N devices have finished (scripts); default: run until Ctrl-C')
    .action((o: Parameters<typeof latencyServerCommand>[1]) => latencyServerCommand(out, o));

  program
    .command('latency-check')
    .description(
      "a latency table's estimate of a network beside the network timed whole on the same device (aim: within 10 %)",
    )
    .option('--arch <name|file>', 'architecture name or saved graph .json (default: fastdepth)')
    .option('--weights <file>', 'weights: .safetensors (for --arch), .onnx or .tflite')
    .option('--input-size <N|HxW>', 'input size (default 224)')
    .option('--seed <n>', 'seed for seeded weights', '0')
    .addOption(
      new Option('--backend <runtime>', BACKEND_HELP)
        .choices(['wasm', 'onnx', 'wasm-engine', 'cost-model'])
        .default('wasm'),
    )
    .option('--latency-on <where>', LATENCY_ON_HELP)
    .option('--latency-table <file>', LATENCY_TABLE_HELP)
    .option('--fresh-latency', FRESH_HELP)
    .option('--allow-noisy', NOISY_HELP)
    .option(
      '--runs <n>',
      'rounds of the measurement protocol (every model timed once per round beside a reference probe; a low quantile is kept; whole networks take at least 15 rounds)',
      '5',
    )
    .option('--json', 'machine-readable output')
    .action((o: Parameters<typeof latencyCheckCommand>[1]) => latencyCheckCommand(out, o));

  const latency = program
    .command('latency')
    .description(
      'the latency tables NetAdapt and latency-check measure (cached in node_modules/.cache/fastdepth)',
    );
  latency
    .command('clear')
    .description(
      'remove the cached latency tables (every runtime): the next prune or latency-check measures afresh',
    )
    .option('--json', 'machine-readable output')
    .action((o: { json?: boolean }) => latencyClearCommand(out, o));

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
    // Whatever a message carries (libvips' lines, a URL or a name from a file), it is
    // printed as one line.
    if (isUserError(e)) {
      out.error(`fastdepth: error: ${errorLine(e)}`);
      return 1;
    }
    if (process.env.FASTDEPTH_DEBUG) {
      out.error(`fastdepth: internal error: ${errorLine(e)}`);
      out.error(e instanceof Error ? (e.stack ?? '') : '');
    } else {
      out.error(
        `fastdepth: internal error: ${errorLine(e)} (this is a bug; set FASTDEPTH_DEBUG=1 to see the stack trace)`,
      );
    }
    return 2;
  }
}
