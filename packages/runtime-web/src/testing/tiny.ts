/** A tiny non-square FastDepth-like graph for quick runtime tests (test-only). */
import { GraphBuilder, type Graph } from '@fastdepth/graph-dsl';

/** 1x3x12x20 -> 1x1x12x20: strided conv, depthwise + pointwise, nearest x2, skip add, ReLU head. */
export function tinyDepthGraph(): Graph {
  const g = new GraphBuilder('tiny-depth');
  const x = g.input('input', [1, 3, 12, 20]);
  const c0 = g.relu6(
    'conv0_relu',
    g.batchNorm('conv0_bn', g.conv2d('conv0', x, { outChannels: 8, kernel: 3, stride: 2, pads: 1 })),
  );
  const dw = g.relu6(
    'dw_relu',
    g.batchNorm('dw_bn', g.conv2d('dw', c0, { outChannels: 8, kernel: 3, pads: 1, groups: 8 })),
  );
  const pw = g.relu('pw_relu', g.batchNorm('pw_bn', g.conv2d('pw', dw, { outChannels: 8, kernel: 1 })));
  const sum = g.add('skip', pw, c0);
  const up = g.upsample('up', sum, 'nearest');
  const head = g.relu('head_relu', g.conv2d('head', up, { outChannels: 1, kernel: 1, bias: true }));
  g.output('depth', head);
  return g.build();
}
