/** Test networks: a tiny encoder-decoder with a skip add, like fastdepth in miniature. */
import { GraphBuilder, type Graph, type Tensor } from '@fastdepth/graph-dsl';

/**
 * conv0 (stride 2) -> separable blocks conv1, conv2 (stride 2) -> decoder d1, x2, add conv1's
 * output -> d2, x2 -> 1x1 head + BN + ReLU. 16x16 input; `act` is every block's activation.
 */
export function tinyEncoderDecoder(act: 'relu' | 'relu6' = 'relu6'): Graph {
  const g = new GraphBuilder('tiny');
  const activate = (name: string, x: Tensor): Tensor => (act === 'relu' ? g.relu(name, x) : g.relu6(name, x));
  const block = (name: string, x: Tensor, out: number, stride = 1): Tensor => {
    const c = x.shape[1];
    const dw = activate(
      `${name}_dw_relu`,
      g.batchNorm(
        `${name}_dw_bn`,
        g.conv2d(`${name}_dw`, x, { outChannels: c, kernel: 3, pads: 1, stride, groups: c }),
      ),
    );
    return activate(
      `${name}_pw_relu`,
      g.batchNorm(`${name}_pw_bn`, g.conv2d(`${name}_pw`, dw, { outChannels: out, kernel: 1 })),
    );
  };
  const x = g.input('input', [1, 3, 16, 16]);
  const c0 = activate(
    'conv0_relu',
    g.batchNorm('conv0_bn', g.conv2d('conv0', x, { outChannels: 16, kernel: 3, pads: 1, stride: 2 })),
  );
  const c1 = block('conv1', c0, 24);
  const c2 = block('conv2', c1, 48, 2);
  const d1 = g.upsample('d1_up', block('d1', c2, 24), 'nearest');
  const s = g.add('skip_add', d1, c1);
  const d2 = g.upsample('d2_up', block('d2', s, 16), 'nearest');
  const head = g.relu(
    'head_relu',
    g.batchNorm('head_bn', g.conv2d('head', d2, { outChannels: 1, kernel: 1 })),
  );
  g.output('depth', head);
  return g.build();
}
