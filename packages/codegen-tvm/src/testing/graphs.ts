/** Tiny graphs, one per op (or op variant), for golden and round-trip tests. Test-only. */
import { GraphBuilder, type Graph } from '@fastdepth/graph-dsl';

function g(name: string, declare: (b: GraphBuilder) => void): Graph {
  const b = new GraphBuilder(name);
  declare(b);
  return b.build();
}

/** name -> graph; every op of the DSL appears in at least one. */
export const OP_GRAPHS: Readonly<Record<string, Graph>> = {
  conv_bn_relu6: g('conv_bn_relu6', (b) => {
    const x = b.input('input', [1, 3, 8, 8]);
    const c = b.conv2d('conv0', x, { outChannels: 4, kernel: 3, stride: 2, pads: 1 });
    b.output('out', b.relu6('conv0_relu', b.batchNorm('conv0_bn', c)));
  }),
  depthwise_bias_relu: g('depthwise_bias_relu', (b) => {
    const x = b.input('input', [1, 4, 8, 8]);
    const c = b.conv2d('dw', x, { outChannels: 4, kernel: 5, pads: 2, groups: 4, bias: true });
    b.output('out', b.relu('dw_relu', c));
  }),
  conv_dilated_asym: g('conv_dilated_asym', (b) => {
    const x = b.input('input', [1, 2, 9, 9]);
    b.output(
      'out',
      b.conv2d('conv', x, { outChannels: 3, kernel: [3, 2], pads: [0, 1, 2, 1], dilation: [2, 1] }),
    );
  }),
  deconv_bn_relu: g('deconv_bn_relu', (b) => {
    const x = b.input('input', [1, 4, 4, 4]);
    const d = b.convTranspose2d('deconv', x, {
      outChannels: 2,
      kernel: 3,
      stride: 2,
      pads: 1,
      outputPadding: 1,
    });
    b.output('out', b.relu('deconv_relu', b.batchNorm('deconv_bn', d, 1e-3)));
  }),
  deconv_dw_bias: g('deconv_dw_bias', (b) => {
    const x = b.input('input', [1, 4, 4, 4]);
    b.output(
      'out',
      b.convTranspose2d('deconv', x, {
        outChannels: 4,
        kernel: 4,
        stride: 2,
        pads: 1,
        groups: 4,
        bias: true,
      }),
    );
  }),
  add_concat: g('add_concat', (b) => {
    const x = b.input('input', [1, 2, 4, 4]);
    const r = b.relu('r', x);
    const s = b.relu6('s', x);
    const a = b.add('sum3', x, r, s);
    b.output('out', b.concat('cat', a, x));
  }),
  upsample_nearest: g('upsample_nearest', (b) => {
    b.output('out', b.upsample('up', b.input('input', [1, 2, 3, 5]), 'nearest'));
  }),
  upsample_bilinear: g('upsample_bilinear', (b) => {
    b.output('out', b.upsample('up', b.input('input', [1, 2, 3, 5]), 'bilinear'));
  }),
  resize_sizes: g('resize_sizes', (b) => {
    const x = b.input('input', [1, 2, 3, 5]);
    const n = b.resize('near', x, 'nearest', { size: [7, 4] });
    b.output('out', b.resize('bil', n, 'bilinear', { size: [5, 13] }));
  }),
  unpool: g('unpool', (b) => {
    b.output('out', b.unpool('unpool', b.input('input', [1, 2, 3, 4])));
  }),
  pixel_shuffle: g('pixel_shuffle', (b) => {
    b.output('out', b.pixelShuffle('shuffle', b.input('input', [1, 8, 3, 3])));
  }),
  max_pool: g('max_pool', (b) => {
    b.output('out', b.maxPool('pool', b.input('input', [1, 2, 8, 8]), { kernel: 3, stride: 2, pads: 1 }));
  }),
};
