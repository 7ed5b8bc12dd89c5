import { describe, expect, it } from 'vitest';
import { GraphBuilder } from './builder.js';
import { GraphError } from './errors.js';
import { execute, EXECUTOR_MAX_ELEMENTS } from './executor.js';
import type { Graph } from './ir.js';
import { loadGraph, saveGraph } from './serialize.js';
import { SIZE_CAPS } from './size-caps.js';
import { initWeights } from './weights.js';

function tiny(): Graph {
  const g = new GraphBuilder('tiny');
  const x = g.input('input', [1, 3, 16, 16]);
  g.output('depth', g.conv2d('conv0', x, { outChannels: 4, kernel: 3, pads: 1 }));
  return g.build();
}

/** tiny() as JSON, with `edit` applied to its nodes (as a hostile graph file would be). */
function edited(edit: (nodes: { op: string; attrs: Record<string, unknown> }[]) => void): string {
  const raw = JSON.parse(saveGraph(tiny())) as { nodes: { op: string; attrs: Record<string, unknown> }[] };
  edit(raw.nodes);
  return JSON.stringify(raw);
}

describe('size caps', () => {
  it('refuses a 1e9-channel conv in a graph file, naming the file, layer, field and cap', () => {
    const text = edited((nodes) => {
      nodes[1]!.attrs.outChannels = 1e9;
    });
    expect(() => loadGraph(text, 'big.json')).toThrow(
      'big.json: layer "conv0": 1000000000 channels (attribute "outChannels") is more than the 65536 a tensor may have',
    );
  });

  it('refuses a 1048576x1048576 input', () => {
    const text = edited((nodes) => {
      nodes[0]!.attrs.shape = [1, 3, 1048576, 1048576];
    });
    expect(() => loadGraph(text, 'big.json')).toThrow(
      'big.json: layer "input": height 1048576 (attribute "shape") is more than the 16384 a tensor may have',
    );
  });

  it('refuses in the builder too, before the layer is added', () => {
    const g = new GraphBuilder('b');
    const x = g.input('input', [1, 3, 8, 8]);
    expect(() => g.conv2d('wide', x, { outChannels: 100000, kernel: 1 })).toThrow(GraphError);
    expect(() => g.input('tall', [1, 3, 8, 20000])).toThrow(
      'layer "tall": width 20000 (attribute "shape") is more than the 16384 a tensor may have',
    );
    // Each dimension within its cap, the whole tensor over the values cap.
    expect(() => g.input('many', [1, 65536, 16384, 16384])).toThrow(
      `layer "many": output 1x65536x16384x16384 holds ${65536 * 16384 * 16384} values, more than the ${SIZE_CAPS.elements} (2^31) a tensor may hold`,
    );
    // Small activations, a parameter tensor of 2^32 values.
    const y = g.input('wide_in', [1, 65536, 1, 1]);
    expect(() => g.conv2d('huge_weight', y, { outChannels: 65536, kernel: 1 })).toThrow(
      `layer "huge_weight": parameter "weight" of shape 65536x65536x1x1 holds ${2 ** 32} values, more than the ${SIZE_CAPS.paramElements} (2^28) a parameter may hold`,
    );
    // An upsample that passes every cap but the spatial one names the output shape.
    const z = g.input('big_in', [1, 1, 16384, 16]);
    expect(() => g.upsample('up', z, 'nearest')).toThrow(
      'layer "up": height 32768 (the output shape) is more than the 16384 a tensor may have',
    );
  });

  it('the reference executor refuses a tensor it cannot hold before allocating, naming the layer', () => {
    const g = new GraphBuilder('wide');
    g.output('depth', g.input('input', [1, 32768, 256, 256]));
    const graph = g.build();
    expect(() =>
      execute(graph, initWeights(graph, 0), { input: { shape: [1, 1, 1, 1], data: [0] } }),
    ).toThrow(
      `layer "input": output 1x32768x256x256 holds ${2 ** 31} values, more than the ${EXECUTOR_MAX_ELEMENTS} (2^30, 8 GiB as float64) the reference executor holds per tensor`,
    );
  });
});
