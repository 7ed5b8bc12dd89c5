/**
 * The wasm engine (`@fastdepth/codegen-wasm`: one specialised WebAssembly SIMD module per
 * network, the fastest web runtime) as a latency runner in Node: each model is compiled with
 * `emitWasm` (one thread, the `simd` build), instantiated on its own memory with its weights, and
 * `run(0, 1)` is timed (the input written once, the output not read: a whole network pays one
 * copy each way, not one per layer). Backend key `wasm-engine-1t`.
 *
 * The engine plans whole networks: a one-layer network it cannot plan (an op it does not
 * support alone) is an error naming the layer's graph, not a silent zero.
 */
import { emitWasm, PACKAGE_VERSION } from '@fastdepth/codegen-wasm';
import { FastDepthError, GraphBuilder, initWeights, type Model } from '@fastdepth/graph-dsl';
import type { TimedModel } from './protocol.js';
import type { LatencyRunner } from './table.js';

interface WasmExports {
  run(thread: number, threads: number): void;
}
interface WasmApi {
  Memory: new (d: { initial: number; maximum?: number }) => { buffer: ArrayBuffer };
  instantiate(bytes: Uint8Array, imports: object): Promise<{ instance: { exports: object } }>;
}
const wasmApi = (): WasmApi => (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

const median = (v: number[]): number => {
  const s = [...v].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/**
 * Host networks for a lone upsample or add: 1x1 convs (c -> c) feeding it, `with` the op and
 * `without` it (one host conv, timed `times` times: the add has two).
 */
function hostedNetworks(
  model: Model,
  op: 'upsample' | 'add',
): { with: Model; without: Model; times: number } {
  const input = model.graph.nodes.find((n) => n.op === 'input');
  if (input?.op !== 'input') throw new FastDepthError('wasm-engine: the graph has no input');
  const shape = input.attrs.shape;
  const node = model.graph.nodes.find((n) => n.op === op)!;
  const c = shape[1];
  const build = (withOp: boolean): Model => {
    const g = new GraphBuilder(`lut_${op}_hosted`);
    const x = g.input('input', [...shape] as [number, number, number, number]);
    const a = g.conv2d('host_a', x, { outChannels: c, kernel: 1 });
    let y = a;
    if (withOp && node.op === 'upsample') y = g.node('upsample', 'layer', [a], node.attrs);
    if (withOp && op === 'add') y = g.add('layer', a, g.conv2d('host_b', x, { outChannels: c, kernel: 1 }));
    g.output('out', y);
    const graph = g.build();
    return { graph, weights: initWeights(graph, 1) };
  };
  return { with: build(true), without: build(false), times: op === 'add' ? 2 : 1 };
}

export function wasmEngineRunner(
  options: { runs?: number; warmup?: number; optimizeLevel?: number } = {},
): LatencyRunner {
  const prepare = async (model: Model): Promise<TimedModel> => {
    if (model.graph.nodes.every((n) => n.op === 'input' || n.op === 'output')) {
      // An identity network (the per-call overhead probe): the engine's per-call cost is the
      // input copy into its memory, timed as such.
      const input = model.graph.nodes.find((n) => n.op === 'input');
      const n = input?.op === 'input' ? input.attrs.shape.reduce((a, b) => a * b, 1) : 0;
      const src = new Float32Array(n);
      const dst = new Float32Array(n);
      const runs = options.runs ?? 3;
      return {
        time: () => {
          const times: number[] = [];
          for (let i = 0; i < runs; i++) {
            const t0 = performance.now();
            dst.set(src);
            times.push(performance.now() - t0);
          }
          return Promise.resolve(median(times));
        },
      };
    }
    const lone = model.graph.nodes.filter((n) => n.op !== 'input' && n.op !== 'output');
    if (lone.length === 1 && (lone[0]!.op === 'upsample' || lone[0]!.op === 'add')) {
      // The engine computes a resize or an add inside the conv before it (read through, or in
      // its epilogue), never alone: its cost is what it adds to host convs, the network with
      // it timed minus the host convs timed without it.
      const hosts = hostedNetworks(model, lone[0].op);
      const withOp = await compiled(hosts.with);
      const without = await compiled(hosts.without);
      return {
        time: async () => Math.max(0, (await withOp.time()) - hosts.times * (await without.time())),
      };
    }
    return compiled(model);
  };
  const compiled = async (model: Model): Promise<TimedModel> => {
    let artifact;
    try {
      artifact = emitWasm(model, { maxThreads: 1, optimizeLevel: options.optimizeLevel ?? 3 });
    } catch (e) {
      throw new FastDepthError(`wasm-engine: cannot compile "${model.graph.name}": ${(e as Error).message}`);
    }
    const { manifest, weights } = artifact;
    const api = wasmApi();
    const memory = new api.Memory({
      initial: manifest.memory.initialPages,
      maximum: manifest.memory.maximumPages,
    });
    const { instance } = await api.instantiate(artifact.modules.simd, { env: { memory } });
    const exports = instance.exports as unknown as WasmExports;
    new Uint8Array(memory.buffer, manifest.weights.byteOffset, weights.byteLength).set(weights);
    const inputLength = manifest.input.shape.reduce((a, b) => a * b, 1);
    const x = new Float32Array(memory.buffer, manifest.input.byteOffset, inputLength);
    for (let i = 0; i < inputLength; i++) x[i] = (i % 97) / 97;
    for (let i = 0; i < (options.warmup ?? 2); i++) exports.run(0, 1);
    const runs = options.runs ?? 3;
    return {
      time: () => {
        const times: number[] = [];
        for (let i = 0; i < runs; i++) {
          const t0 = performance.now();
          exports.run(0, 1);
          times.push(performance.now() - t0);
        }
        return Promise.resolve(median(times));
      },
    };
  };
  return {
    backend: 'wasm-engine-1t',
    version: `codegen-wasm ${PACKAGE_VERSION}`,
    prepare,
    async measure(model) {
      return (await prepare(model)).time();
    },
  };
}
