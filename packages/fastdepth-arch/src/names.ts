/**
 * Architecture names: `{encoder}-{decoder}[-skipadd|-skipconcat]`, as the authors spell them
 * (`mobilenet-nnconv5dw-skipadd`), plus the aliases `fastdepth` and `fastdepth-pruned`.
 * Parsing, the full list, one-line descriptions and "did you mean" suggestions live here.
 */
import { FastDepthError, assertNever } from '@fastdepth/graph-dsl';

/** Encoder backbones of the family. */
export type EncoderKind = 'mobilenet' | 'resnet18' | 'resnet34' | 'resnet50';
/** Decoder block kinds of the family (FASTDEPTH.md section 3). */
export type DecoderKind = 'deconv' | 'upconv' | 'upproj' | 'nnconv' | 'blconv' | 'shuffle';
/** Kernel sizes the kernel-parameterised decoders come in. */
export type DecoderKernel = 3 | 5 | 7 | 9;
/** How encoder features reach the decoder. */
export type SkipKind = 'none' | 'add' | 'concat';

export interface DecoderSpec {
  readonly kind: DecoderKind;
  /** Present for deconv, nnconv, blconv and shuffle; upconv and upproj have fixed kernels. */
  readonly kernel?: DecoderKernel;
  /** Depthwise KxK + pointwise 1x1 instead of a full KxK convolution. */
  readonly depthwise: boolean;
}

/** A parsed architecture name. */
export interface ArchSpec {
  readonly encoder: EncoderKind;
  readonly decoder: DecoderSpec;
  readonly skip: SkipKind;
}

export const ENCODERS: readonly EncoderKind[] = ['mobilenet', 'resnet18', 'resnet34', 'resnet50'];
export const DECODER_KERNELS: readonly DecoderKernel[] = [3, 5, 7, 9];
const SKIPS: readonly SkipKind[] = ['none', 'add', 'concat'];

/** Decoder kinds that take a kernel size and a depthwise variant. */
const KERNELED: Readonly<Record<DecoderKind, boolean>> = {
  deconv: true,
  upconv: false,
  upproj: false,
  nnconv: true,
  blconv: true,
  shuffle: true,
};

/** FastDepth = MobileNet-NNConv5(depthwise) with additive skips. */
export const FASTDEPTH_SPEC: ArchSpec = {
  encoder: 'mobilenet',
  decoder: { kind: 'nnconv', kernel: 5, depthwise: true },
  skip: 'add',
};

/** Aliases and the spec each names. */
export const ARCH_ALIASES: Readonly<Record<string, ArchSpec>> = {
  fastdepth: FASTDEPTH_SPEC,
  'fastdepth-pruned': FASTDEPTH_SPEC,
};

function allDecoders(): DecoderSpec[] {
  const out: DecoderSpec[] = [];
  for (const kind of Object.keys(KERNELED) as DecoderKind[]) {
    if (!KERNELED[kind]) {
      out.push({ kind, depthwise: false });
      continue;
    }
    for (const kernel of DECODER_KERNELS) {
      out.push({ kind, kernel, depthwise: false }, { kind, kernel, depthwise: true });
    }
  }
  return out;
}

/** The canonical name of a spec, e.g. `resnet50-upproj-skipconcat`. */
export function formatArchName(spec: ArchSpec): string {
  const d = spec.decoder;
  const decoder = `${d.kind}${d.kernel ?? ''}${d.depthwise ? 'dw' : ''}`;
  return `${spec.encoder}-${decoder}${spec.skip === 'none' ? '' : `-skip${spec.skip}`}`;
}

const FAMILY: ReadonlyMap<string, ArchSpec> = new Map(
  ENCODERS.flatMap((encoder) =>
    allDecoders().flatMap((decoder) =>
      SKIPS.map((skip): [string, ArchSpec] => {
        const spec: ArchSpec = { encoder, decoder, skip };
        return [formatArchName(spec), spec];
      }),
    ),
  ),
);

/** Every buildable name: the aliases first, then the whole family. */
export const ARCH_NAMES: readonly string[] = [...Object.keys(ARCH_ALIASES), ...FAMILY.keys()];

/** Levenshtein distance (names are short, the list is a few hundred: a plain DP is plenty). */
export function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      cur.push(Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + cost));
    }
    prev = cur;
  }
  return prev[b.length]!;
}

/** Up to `limit` known names close to `name`, closest first. */
export function suggestArchNames(name: string, limit = 3): string[] {
  const wanted = name.trim().toLowerCase();
  const maxDistance = Math.max(2, Math.ceil(wanted.length * 0.25));
  return ARCH_NAMES.map((candidate, index) => ({ candidate, index, d: editDistance(wanted, candidate) }))
    .filter((c) => c.d <= maxDistance)
    .sort((a, b) => a.d - b.d || a.index - b.index)
    .slice(0, limit)
    .map((c) => c.candidate);
}

/** The one-line error for a name that is not in `ARCH_NAMES`. */
export function unknownArchError(name: string): FastDepthError {
  const close = suggestArchNames(name);
  const hint = close.length > 0 ? ` (did you mean ${close.map((c) => `"${c}"`).join(', ')}?)` : '';
  return new FastDepthError(
    `unknown architecture "${name}"${hint}; run \`fastdepth list\` to see all ${ARCH_NAMES.length} names`,
  );
}

/** Parses an architecture name; throws `FastDepthError` with suggestions for unknown names. */
export function parseArchName(name: string): ArchSpec {
  const spec = Object.hasOwn(ARCH_ALIASES, name) ? ARCH_ALIASES[name] : FAMILY.get(name);
  if (!spec) throw unknownArchError(name);
  return spec;
}

const ENCODER_TEXT: Readonly<Record<EncoderKind, string>> = {
  mobilenet: 'MobileNet-v1 encoder',
  resnet18: 'ResNet-18 encoder (+1x1 conv to 1024)',
  resnet34: 'ResNet-34 encoder (+1x1 conv to 1024)',
  resnet50: 'ResNet-50 encoder (+1x1 conv to 1024)',
};

function decoderText(d: DecoderSpec): string {
  const k = d.kernel ?? 5;
  const conv = d.depthwise ? `depthwise ${k}x${k} + pointwise` : `${k}x${k} conv`;
  switch (d.kind) {
    case 'deconv':
      return d.depthwise
        ? `DeConv${k}dw decoder (depthwise ${k}x${k} transposed conv + pointwise)`
        : `DeConv${k} decoder (${k}x${k} transposed conv, stride 2)`;
    case 'upconv':
      return 'UpConv decoder (unpool + 5x5 conv)';
    case 'upproj':
      return 'UpProj decoder (unpool + residual 5x5/3x3 up-projection)';
    case 'nnconv':
      return `NNConv${k}${d.depthwise ? 'dw' : ''} decoder (${conv}, nearest x2)`;
    case 'blconv':
      return `BLConv${k}${d.depthwise ? 'dw' : ''} decoder (${conv}, bilinear x2)`;
    case 'shuffle':
      return `Shuffle${k}${d.depthwise ? 'dw' : ''} decoder (pixel shuffle, ${conv})`;
    default:
      return assertNever(d.kind);
  }
}

const SKIP_TEXT: Readonly<Record<SkipKind, string>> = {
  none: 'no skips',
  add: 'additive skips',
  concat: 'concatenated skips',
};

/** A one-line description of a name, for `fastdepth list`. */
export function describeArch(name: string): string {
  if (name === 'fastdepth') return 'FastDepth unpruned: MobileNet-NNConv5dw with additive skips (0.74 GMACs)';
  if (name === 'fastdepth-pruned') {
    return 'FastDepth as published: NetAdapt-pruned MobileNet-NNConv5dw-skipadd (0.37 GMACs)';
  }
  const spec = parseArchName(name);
  return `${ENCODER_TEXT[spec.encoder]}, ${decoderText(spec.decoder)}, ${SKIP_TEXT[spec.skip]}`;
}
