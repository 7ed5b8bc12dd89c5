/**
 * Test-only: a reader for the Relay text subset the emitter writes, written from TVM's
 * grammar (tokenizer.h / parser.cc of v0.19), and a lifter from that text back to a DSL
 * graph. It is strict on purpose: an attribute missing, extra or of the wrong literal kind
 * (an int where TVM wants `6f`) is an error, so a round trip proves the text says everything.
 */
import {
  GRAPH_FORMAT,
  GRAPH_FORMAT_VERSION,
  inferShapes,
  paramSpecs,
  type Graph,
  type Node,
  type Pads,
  type Pair,
  type Shape,
} from '@fastdepth/graph-dsl';

type Tok =
  | { k: 'graph'; v: number }
  | { k: 'local'; v: string }
  | { k: 'global'; v: string }
  | { k: 'ident'; v: string }
  | { k: 'int'; v: number }
  | { k: 'float'; v: number }
  | { k: 'str'; v: string }
  | { k: 'comment'; v: string }
  | { k: 'punct'; v: string };

export type AttrValue =
  | { readonly kind: 'int'; readonly value: number }
  | { readonly kind: 'float'; readonly value: number }
  | { readonly kind: 'str'; readonly value: string }
  | { readonly kind: 'bool'; readonly value: boolean }
  | { readonly kind: 'list'; readonly items: readonly AttrValue[] };

export type Expr =
  | { readonly kind: 'var'; readonly name: string }
  | { readonly kind: 'ref'; readonly id: number }
  | { readonly kind: 'get'; readonly tuple: Expr; readonly index: number }
  | { readonly kind: 'tuple'; readonly items: readonly Expr[] }
  | { readonly kind: 'const'; readonly value: number; readonly float: boolean }
  | {
      readonly kind: 'call';
      readonly op: string;
      readonly args: readonly Expr[];
      readonly attrs: ReadonlyMap<string, AttrValue>;
    };

export interface RelayParam {
  readonly name: string;
  readonly shape: readonly number[];
  readonly dtype: string;
}

export interface RelayBinding {
  readonly id: number;
  readonly expr: Expr;
  readonly comment: string | undefined;
}

export interface RelayModule {
  readonly version: string;
  /** From the `// <name>: generated ...` line. */
  readonly graphName: string | undefined;
  readonly params: readonly RelayParam[];
  readonly retTypes: readonly (readonly number[])[];
  readonly bindings: readonly RelayBinding[];
  readonly result: Expr;
  readonly resultComment: string | undefined;
}

const NUMERIC = /[0-9.eE+-]/;

function tokenize(src: string): Tok[] {
  const toks: Tok[] = [];
  let i = 0;
  const ident = (): string => {
    const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(src.slice(i));
    if (!m) throw new Error(`relay: identifier expected at offset ${i}`);
    i += m[0].length;
    return m[0];
  };
  const number = (negative: boolean): Tok => {
    let s = '';
    while (i < src.length && NUMERIC.test(src[i]!)) s += src[i++]!;
    let float = false;
    if (src[i] === 'f') {
      float = true;
      i++;
    } else if (s.includes('.') || /e/i.test(s)) {
      // TVM's lexer would call this an integer token with a bad literal.
      throw new Error(`relay: float literal "${s}" lacks the f suffix`);
    }
    const v = (negative ? -1 : 1) * Number(s);
    if (!Number.isFinite(v)) throw new Error(`relay: bad number "${s}"`);
    return float ? { k: 'float', v } : { k: 'int', v };
  };
  while (i < src.length) {
    const c = src[i]!;
    if (c === ' ' || c === '\n' || c === '\t') i++;
    else if (src.startsWith('//', i)) {
      const end = src.indexOf('\n', i);
      toks.push({ k: 'comment', v: src.slice(i, end < 0 ? src.length : end) });
      i = end < 0 ? src.length : end;
    } else if (src.startsWith('/*', i)) {
      const end = src.indexOf('*/', i);
      if (end < 0) throw new Error('relay: unterminated comment');
      toks.push({ k: 'comment', v: src.slice(i + 2, end).trim() });
      i = end + 2;
    } else if (c === '%') {
      i++;
      const m = /^[0-9]+/.exec(src.slice(i));
      if (m) {
        toks.push({ k: 'graph', v: Number(m[0]) });
        i += m[0].length;
      } else toks.push({ k: 'local', v: ident() });
    } else if (c === '@') {
      i++;
      toks.push({ k: 'global', v: ident() });
    } else if (c === '"') {
      const end = src.indexOf('"', i + 1);
      toks.push({ k: 'str', v: src.slice(i + 1, end) });
      i = end + 1;
    } else if (c === '-' && src[i + 1] === '>') {
      toks.push({ k: 'punct', v: '->' });
      i += 2;
    } else if (c === '-' && /[0-9]/.test(src[i + 1] ?? '')) {
      i++;
      toks.push(number(true));
    } else if (/[0-9]/.test(c)) toks.push(number(false));
    else if (/[A-Za-z_]/.test(c)) toks.push({ k: 'ident', v: ident() });
    else if ('()[]{},=;:.'.includes(c)) {
      toks.push({ k: 'punct', v: c });
      i++;
    } else throw new Error(`relay: unexpected character ${JSON.stringify(c)} at offset ${i}`);
  }
  return toks;
}

class Parser {
  private pos = 0;
  constructor(private readonly toks: readonly Tok[]) {}

  /** Next non-comment token. */
  peek(): Tok | undefined {
    let p = this.pos;
    while (this.toks[p]?.k === 'comment') p++;
    return this.toks[p];
  }
  next(): Tok {
    while (this.toks[this.pos]?.k === 'comment') this.pos++;
    const t = this.toks[this.pos++];
    if (!t) throw new Error('relay: unexpected end of text');
    return t;
  }
  /** The comment right here, if any (comments are only meaningful after `;` and the result). */
  comment(): string | undefined {
    const t = this.toks[this.pos];
    if (t?.k === 'comment') {
      this.pos++;
      return t.v;
    }
    return undefined;
  }
  isPunct(v: string): boolean {
    const t = this.peek();
    return t?.k === 'punct' && t.v === v;
  }
  punct(v: string): void {
    const t = this.next();
    if (t.k !== 'punct' || t.v !== v) throw new Error(`relay: expected "${v}", found ${JSON.stringify(t)}`);
  }
  ident(v?: string): string {
    const t = this.next();
    if (t.k !== 'ident' || (v !== undefined && t.v !== v))
      throw new Error(`relay: expected ${v ?? 'identifier'}, found ${JSON.stringify(t)}`);
    return t.v;
  }

  /** `Tensor[(1, 3), float32]` or a tuple of such. */
  type(): (readonly number[])[] {
    if (this.isPunct('(')) {
      this.punct('(');
      const out: (readonly number[])[] = [];
      for (;;) {
        out.push(...this.type());
        if (this.isPunct(')')) break;
        this.punct(',');
      }
      this.punct(')');
      return out;
    }
    this.ident('Tensor');
    this.punct('[');
    this.punct('(');
    const dims: number[] = [];
    while (!this.isPunct(')')) {
      const t = this.next();
      if (t.k !== 'int')
        throw new Error(`relay: shape dimension must be an integer, found ${JSON.stringify(t)}`);
      dims.push(t.v);
      if (!this.isPunct(')')) this.punct(',');
    }
    this.punct(')');
    this.punct(',');
    const dtype = this.ident();
    if (dtype !== 'float32') throw new Error(`relay: dtype ${dtype} is not float32`);
    this.punct(']');
    return [dims];
  }

  attrValue(): AttrValue {
    const t = this.next();
    switch (t.k) {
      case 'int':
        return { kind: 'int', value: t.v };
      case 'float':
        return { kind: 'float', value: t.v };
      case 'str':
        return { kind: 'str', value: t.v };
      case 'ident':
        if (t.v === 'True' || t.v === 'False') return { kind: 'bool', value: t.v === 'True' };
        break;
      case 'punct':
        if (t.v === '[') {
          const items: AttrValue[] = [];
          while (!this.isPunct(']')) {
            items.push(this.attrValue());
            if (!this.isPunct(']')) this.punct(',');
          }
          this.punct(']');
          return { kind: 'list', items };
        }
        break;
      default:
        break;
    }
    throw new Error(`relay: bad attribute value ${JSON.stringify(t)}`);
  }

  expr(): Expr {
    const t = this.next();
    let e: Expr;
    if (t.k === 'graph') e = { kind: 'ref', id: t.v };
    else if (t.k === 'local') e = { kind: 'var', name: t.v };
    else if (t.k === 'int' || t.k === 'float') e = { kind: 'const', value: t.v, float: t.k === 'float' };
    else if (t.k === 'punct' && t.v === '(') {
      const items: Expr[] = [];
      while (!this.isPunct(')')) {
        items.push(this.expr());
        if (!this.isPunct(')')) this.punct(',');
      }
      this.punct(')');
      e = { kind: 'tuple', items };
    } else if (t.k === 'ident') {
      let op = t.v;
      while (this.isPunct('.')) {
        this.punct('.');
        op += `.${this.ident()}`;
      }
      this.punct('(');
      const args: Expr[] = [];
      const attrs = new Map<string, AttrValue>();
      while (!this.isPunct(')')) {
        const a = this.peek();
        const after = this.toks[this.pos + 1];
        if (
          a?.k === 'ident' &&
          after?.k === 'punct' &&
          after.v === '=' &&
          a.v !== 'True' &&
          a.v !== 'False'
        ) {
          this.next();
          this.punct('=');
          if (attrs.has(a.v)) throw new Error(`relay: ${op}: attribute ${a.v} given twice`);
          attrs.set(a.v, this.attrValue());
        } else {
          if (attrs.size > 0) throw new Error(`relay: ${op}: positional argument after attributes`);
          args.push(this.expr());
        }
        if (!this.isPunct(')')) this.punct(',');
      }
      this.punct(')');
      e = { kind: 'call', op, args, attrs };
    } else throw new Error(`relay: unexpected ${JSON.stringify(t)}`);
    while (this.isPunct('.')) {
      this.punct('.');
      const idx = this.next();
      if (idx.k !== 'int') throw new Error('relay: tuple index must be an integer');
      e = { kind: 'get', tuple: e, index: idx.v };
    }
    return e;
  }

  module(graphName: string | undefined, version: string): RelayModule {
    this.ident('def');
    const g = this.next();
    if (g.k !== 'global' || g.v !== 'main') throw new Error('relay: expected def @main');
    this.punct('(');
    const params: RelayParam[] = [];
    while (!this.isPunct(')')) {
      const p = this.next();
      if (p.k !== 'local') throw new Error(`relay: parameter expected, found ${JSON.stringify(p)}`);
      this.punct(':');
      const [shape] = this.type();
      params.push({ name: p.v, shape: shape!, dtype: 'float32' });
      if (!this.isPunct(')')) this.punct(',');
    }
    this.punct(')');
    this.punct('->');
    const retTypes = this.type();
    this.punct('{');
    const bindings: RelayBinding[] = [];
    for (;;) {
      const t = this.peek();
      const after = this.toks[this.pos + 1];
      if (t?.k === 'graph' && after?.k === 'punct' && after.v === '=') {
        this.next();
        this.punct('=');
        const expr = this.expr();
        this.punct(';');
        if (bindings.some((b) => b.id === t.v)) throw new Error(`relay: %${t.v} bound twice`);
        bindings.push({ id: t.v, expr, comment: this.comment() });
      } else break;
    }
    const result = this.expr();
    const resultComment = this.comment();
    this.punct('}');
    if (this.peek() !== undefined) throw new Error('relay: text after the closing brace of @main');
    return { version, graphName, params, retTypes, bindings, result, resultComment };
  }
}

/** Parses emitted Relay text; throws on anything outside the subset or malformed. */
export function parseRelay(text: string): RelayModule {
  const header = /^#\[version = "([0-9.]+)"\]\n/.exec(text);
  if (!header) throw new Error('relay: the text must start with #[version = "..."]');
  const name = /^\/\/ ([^:\n]+): generated/m.exec(text)?.[1];
  return new Parser(tokenize(text.slice(header[0].length))).module(name, header[1]!);
}

// ---------------------------------------------------------------------------------------
// Lifting Relay back to the DSL.

function int(v: AttrValue | undefined, what: string): number {
  if (v?.kind !== 'int') throw new Error(`${what} must be an integer literal, found ${JSON.stringify(v)}`);
  return v.value;
}
function float(v: AttrValue | undefined, what: string): number {
  if (v?.kind !== 'float')
    throw new Error(`${what} must be a float literal (with f), found ${JSON.stringify(v)}`);
  return v.value;
}
function str(v: AttrValue | undefined, what: string): string {
  if (v?.kind !== 'str') throw new Error(`${what} must be a string, found ${JSON.stringify(v)}`);
  return v.value;
}
function bool(v: AttrValue | undefined, what: string): boolean {
  if (v?.kind !== 'bool') throw new Error(`${what} must be True or False, found ${JSON.stringify(v)}`);
  return v.value;
}
function list(v: AttrValue | undefined, what: string, n?: number): readonly AttrValue[] {
  if (v?.kind !== 'list' || (n !== undefined && v.items.length !== n))
    throw new Error(`${what} must be a list${n === undefined ? '' : ` of ${n}`}, found ${JSON.stringify(v)}`);
  return v.items;
}
function ints(v: AttrValue | undefined, what: string, n?: number): number[] {
  return list(v, what, n).map((x) => int(x, what));
}
const pair = (v: AttrValue | undefined, what: string): Pair => ints(v, what, 2) as unknown as Pair;
const quad = (v: AttrValue | undefined, what: string): Pads => ints(v, what, 4) as unknown as Pads;

type Call = Extract<Expr, { kind: 'call' }>;

/** The call's attributes, requiring exactly `names` (every attribute written, nothing else). */
function attrsOf(call: Call, names: readonly string[]): (name: string) => AttrValue | undefined {
  const have = [...call.attrs.keys()].sort();
  const want = [...names].sort();
  if (have.join() !== want.join())
    throw new Error(`${call.op}: attributes [${have.join(', ')}], expected exactly [${want.join(', ')}]`);
  return (name) => call.attrs.get(name);
}

function expect(cond: boolean, what: string): void {
  if (!cond) throw new Error(what);
}

const CONV_ATTRS = [
  'strides',
  'padding',
  'dilation',
  'groups',
  'channels',
  'kernel_size',
  'data_layout',
  'kernel_layout',
  'out_layout',
  'out_dtype',
];
const DECONV_ATTRS = [...CONV_ATTRS, 'output_padding'];
const RESIZE_ATTRS = [
  'size',
  'roi',
  'layout',
  'method',
  'coordinate_transformation_mode',
  'rounding_method',
  'cubic_alpha',
  'cubic_exclude',
  'extrapolation_value',
  'out_dtype',
];

export interface LiftedGraph {
  readonly graph: Graph;
  /** Declared types of the `@main` parameters, by name. */
  readonly paramTypes: ReadonlyMap<string, readonly number[]>;
  /** `ty=` annotations of each layer's final binding. */
  readonly layerTypes: ReadonlyMap<string, readonly number[]>;
}

/**
 * Rebuilds the DSL graph a Relay module was emitted from. Bindings are grouped by the layer
 * named in their comment; each group must be one of the patterns the emitter writes, with
 * every attribute present and weights named `%<layer>_<suffix>`.
 */
export function relayToGraph(mod: RelayModule): LiftedGraph {
  const paramTypes = new Map(mod.params.map((p) => [p.name, p.shape]));
  const layerOfRef = new Map<number, string>();
  const layerTypes = new Map<string, readonly number[]>();
  const weightVars = new Set<string>();

  interface Group {
    layer: string;
    bindings: RelayBinding[];
  }
  const groups: Group[] = [];
  for (const b of mod.bindings) {
    const m = /^([A-Za-z_][A-Za-z0-9_]*)(?: ty=Tensor\[\(([0-9, ]*)\), float32\])?$/.exec(b.comment ?? '');
    if (!m) throw new Error(`relay: binding %${b.id} has no layer comment`);
    const layer = m[1]!;
    if (m[2] !== undefined) layerTypes.set(layer, m[2].split(', ').map(Number));
    const last = groups[groups.length - 1];
    if (last?.layer === layer) last.bindings.push(b);
    else {
      if (groups.some((g) => g.layer === layer))
        throw new Error(`relay: layer ${layer} split into two runs of bindings`);
      groups.push({ layer, bindings: [b] });
    }
  }

  const nodes: Node[] = [];
  const inputsUsed: string[] = [];
  for (const { layer, bindings } of groups) {
    const own = new Set(bindings.map((b) => b.id));
    const calls = bindings.map((b) => b.expr);
    const ops = calls.map((e) => (e.kind === 'call' ? e.op : e.kind));
    const callAt = (i: number): Call => {
      const e = calls[i]!;
      if (e.kind !== 'call') throw new Error(`${layer}: binding ${i} is not a call`);
      return e;
    };
    /** A value from outside the group: the layer that produced it. */
    const data = (e: Expr | undefined): string => {
      if (e?.kind === 'ref') {
        const l = layerOfRef.get(e.id);
        if (l === undefined || own.has(e.id))
          throw new Error(`${layer}: %${e.id} is not a previous layer's value`);
        if (bindings.length === 0) throw new Error('unreachable');
        return l;
      }
      if (e?.kind === 'var' && paramTypes.has(e.name)) {
        if (!inputsUsed.includes(e.name)) inputsUsed.push(e.name);
        return e.name;
      }
      throw new Error(`${layer}: expected a data value, found ${JSON.stringify(e)}`);
    };
    const prevIs = (e: Expr | undefined, i: number): void => {
      expect(
        e?.kind === 'ref' && e.id === bindings[i]!.id,
        `${layer}: binding ${i + 1} must read binding ${i}`,
      );
    };
    const wvar = (e: Expr | undefined, suffix: string): void => {
      const want = `${layer}_${suffix}`;
      expect(
        e?.kind === 'var' && e.name === want && paramTypes.has(want),
        `${layer}: expected parameter %${want}, found ${JSON.stringify(e)}`,
      );
      weightVars.add(want);
    };
    const sig = ops.join(' ');
    let node: Node;
    if (
      sig === 'nn.conv2d' ||
      sig === 'nn.conv2d nn.bias_add' ||
      sig === 'nn.conv2d_transpose' ||
      sig === 'nn.conv2d_transpose nn.bias_add'
    ) {
      const c = callAt(0);
      const transpose = c.op === 'nn.conv2d_transpose';
      const a = attrsOf(c, transpose ? DECONV_ATTRS : CONV_ATTRS);
      expect(c.args.length === 2, `${layer}: conv takes 2 arguments`);
      wvar(c.args[1], 'weight');
      expect(str(a('data_layout'), 'data_layout') === 'NCHW', `${layer}: data_layout`);
      expect(
        str(a('kernel_layout'), 'kernel_layout') === (transpose ? 'IOHW' : 'OIHW'),
        `${layer}: kernel_layout`,
      );
      expect(
        str(a('out_layout'), 'out_layout') === '' && str(a('out_dtype'), 'out_dtype') === '',
        `${layer}: out_layout/out_dtype`,
      );
      const bias = bindings.length === 2;
      if (bias) {
        const b = callAt(1);
        expect(int(attrsOf(b, ['axis'])('axis'), 'axis') === 1, `${layer}: bias_add axis`);
        prevIs(b.args[0], 0);
        wvar(b.args[1], 'bias');
      }
      const common = {
        outChannels: int(a('channels'), 'channels'),
        kernel: pair(a('kernel_size'), 'kernel_size'),
        stride: pair(a('strides'), 'strides'),
        pads: quad(a('padding'), 'padding'),
        groups: int(a('groups'), 'groups'),
        bias,
      };
      if (transpose) {
        expect(
          ints(a('dilation'), 'dilation', 2).every((d) => d === 1),
          `${layer}: conv2d_transpose dilation must be 1`,
        );
        node = {
          op: 'convTranspose2d',
          name: layer,
          inputs: [data(c.args[0])],
          attrs: { ...common, outputPadding: pair(a('output_padding'), 'output_padding') },
        };
      } else {
        node = {
          op: 'conv2d',
          name: layer,
          inputs: [data(c.args[0])],
          attrs: { ...common, dilation: pair(a('dilation'), 'dilation') },
        };
      }
    } else if (sig === 'nn.batch_norm get') {
      const c = callAt(0);
      const a = attrsOf(c, ['axis', 'epsilon', 'center', 'scale']);
      expect(
        int(a('axis'), 'axis') === 1 && bool(a('center'), 'center') && bool(a('scale'), 'scale'),
        `${layer}: batch_norm attrs`,
      );
      expect(c.args.length === 5, `${layer}: batch_norm takes 5 arguments`);
      ['weight', 'bias', 'running_mean', 'running_var'].forEach((s, i) => wvar(c.args[i + 1], s));
      const g = calls[1]!;
      expect(
        g.kind === 'get' && g.index === 0 && g.tuple.kind === 'ref' && g.tuple.id === bindings[0]!.id,
        `${layer}: expected %n.0 of the batch_norm`,
      );
      node = {
        op: 'batchNorm',
        name: layer,
        inputs: [data(c.args[0])],
        attrs: { epsilon: float(a('epsilon'), 'epsilon') },
      };
    } else if (sig === 'nn.relu') {
      const c = callAt(0);
      attrsOf(c, []);
      node = { op: 'relu', name: layer, inputs: [data(c.args[0])], attrs: {} };
    } else if (sig === 'clip') {
      const c = callAt(0);
      const a = attrsOf(c, ['a_min', 'a_max']);
      expect(
        float(a('a_min'), 'a_min') === 0 && float(a('a_max'), 'a_max') === 6,
        `${layer}: clip must be [0f, 6f]`,
      );
      node = { op: 'relu6', name: layer, inputs: [data(c.args[0])], attrs: {} };
    } else if (ops.every((o) => o === 'add')) {
      const inputs = [data(callAt(0).args[0]), data(callAt(0).args[1])];
      for (let i = 1; i < calls.length; i++) {
        prevIs(callAt(i).args[0], i - 1);
        inputs.push(data(callAt(i).args[1]));
      }
      calls.forEach((_, i) => attrsOf(callAt(i), []));
      node = { op: 'add', name: layer, inputs, attrs: {} };
    } else if (sig === 'concatenate') {
      const c = callAt(0);
      expect(int(attrsOf(c, ['axis'])('axis'), 'axis') === 1, `${layer}: concatenate axis`);
      const t = c.args[0];
      if (t?.kind !== 'tuple') throw new Error(`${layer}: concatenate takes a tuple`);
      node = { op: 'concat', name: layer, inputs: t.items.map(data), attrs: {} };
    } else if (sig === 'nn.upsampling') {
      const c = callAt(0);
      const a = attrsOf(c, ['scale_h', 'scale_w', 'layout', 'method', 'align_corners']);
      expect(float(a('scale_h'), 'scale_h') === 2 && float(a('scale_w'), 'scale_w') === 2, `${layer}: scale`);
      expect(
        str(a('layout'), 'layout') === 'NCHW' &&
          str(a('method'), 'method') === 'nearest_neighbor' &&
          !bool(a('align_corners'), 'align_corners'),
        `${layer}: upsampling attrs`,
      );
      node = { op: 'upsample', name: layer, inputs: [data(c.args[0])], attrs: { mode: 'nearest', scale: 2 } };
    } else if (sig === 'image.resize2d') {
      const c = callAt(0);
      const a = attrsOf(c, RESIZE_ATTRS);
      expect(
        list(a('roi'), 'roi', 4).every((v) => float(v, 'roi') === 0),
        `${layer}: roi`,
      );
      const method = str(a('method'), 'm');
      const nearest =
        method === 'nearest_neighbor' &&
        str(a('coordinate_transformation_mode'), 'c') === 'asymmetric' &&
        str(a('rounding_method'), 'r') === 'floor';
      const linear =
        method === 'linear' &&
        str(a('coordinate_transformation_mode'), 'c') === 'half_pixel' &&
        str(a('rounding_method'), 'r') === '';
      expect(str(a('layout'), 'l') === 'NCHW' && (nearest || linear), `${layer}: resize mode`);
      expect(
        float(a('cubic_alpha'), 'a') === -0.5 && int(a('cubic_exclude'), 'e') === 0,
        `${layer}: resize cubic attrs`,
      );
      expect(
        float(a('extrapolation_value'), 'x') === 0 && str(a('out_dtype'), 'o') === '',
        `${layer}: resize extrapolation/out_dtype`,
      );
      const size = ints(a('size'), 'size', 2);
      const src = data(c.args[0]);
      const from = layerTypes.get(src) ?? paramTypes.get(src);
      // Bilinear x2 is what `upsample` writes; every other resize lifts to `resize` to a size.
      const x2 = from !== undefined && size[0] === 2 * from[2]! && size[1] === 2 * from[3]!;
      node =
        linear && x2
          ? { op: 'upsample', name: layer, inputs: [src], attrs: { mode: 'bilinear', scale: 2 } }
          : {
              op: 'resize',
              name: layer,
              inputs: [src],
              attrs: { mode: nearest ? 'nearest' : 'bilinear', size: [size[0]!, size[1]!] },
            };
      layerTypes.set(`${layer}#size`, size);
    } else if (sig === 'reshape nn.pad reshape') {
      const [r1, p, r2] = [callAt(0), callAt(1), callAt(2)];
      const s1 = ints(attrsOf(r1, ['newshape', 'allowzero'])('newshape'), 'newshape', 6);
      expect(
        s1[3] === 1 && s1[5] === 1 && !bool(r1.attrs.get('allowzero'), 'allowzero'),
        `${layer}: unpool first reshape`,
      );
      const pa = attrsOf(p, ['pad_width', 'pad_mode']);
      expect(str(pa('pad_mode'), 'pad_mode') === 'constant', `${layer}: pad_mode`);
      const widths = list(pa('pad_width'), 'pad_width', 6).map((w) => ints(w, 'pad_width', 2).join(':'));
      expect(
        widths.join(' ') === '0:0 0:0 0:0 0:1 0:0 0:1',
        `${layer}: unpool pad_width ${widths.join(' ')}`,
      );
      expect(
        p.args.length === 2 && p.args[1]?.kind === 'const' && p.args[1].float && p.args[1].value === 0,
        `${layer}: pad value must be 0f`,
      );
      prevIs(p.args[0], 0);
      prevIs(r2.args[0], 1);
      const s2 = ints(attrsOf(r2, ['newshape', 'allowzero'])('newshape'), 'newshape', 4);
      expect(s2.join() === [s1[0], s1[1], s1[2]! * 2, s1[4]! * 2].join(), `${layer}: unpool final reshape`);
      node = { op: 'unpool', name: layer, inputs: [data(r1.args[0])], attrs: { scale: 2 } };
    } else if (sig === 'nn.depth_to_space') {
      const c = callAt(0);
      const a = attrsOf(c, ['block_size', 'layout', 'mode']);
      expect(
        int(a('block_size'), 'block_size') === 2 &&
          str(a('layout'), 'l') === 'NCHW' &&
          str(a('mode'), 'm') === 'CRD',
        `${layer}: depth_to_space attrs`,
      );
      node = { op: 'pixelShuffle', name: layer, inputs: [data(c.args[0])], attrs: { blockSize: 2 } };
    } else if (sig === 'nn.max_pool2d') {
      const c = callAt(0);
      const a = attrsOf(c, [
        'pool_size',
        'strides',
        'dilation',
        'padding',
        'layout',
        'out_layout',
        'ceil_mode',
      ]);
      expect(
        ints(a('dilation'), 'dilation', 2).join() === '1,1' &&
          str(a('layout'), 'l') === 'NCHW' &&
          str(a('out_layout'), 'o') === '' &&
          !bool(a('ceil_mode'), 'ceil_mode'),
        `${layer}: max_pool2d attrs`,
      );
      node = {
        op: 'maxPool',
        name: layer,
        inputs: [data(c.args[0])],
        attrs: {
          kernel: pair(a('pool_size'), 'pool_size'),
          stride: pair(a('strides'), 'strides'),
          pads: quad(a('padding'), 'padding'),
        },
      };
    } else {
      throw new Error(`${layer}: unknown binding pattern "${sig}"`);
    }
    nodes.push(node);
    for (const b of bindings) layerOfRef.set(b.id, layer);
  }

  const outM = /^([A-Za-z_][A-Za-z0-9_]*) ty=Tensor\[\(([0-9, ]*)\), float32\]$/.exec(
    mod.resultComment ?? '',
  );
  if (!outM) throw new Error('relay: the result needs a "<output layer> ty=..." comment');
  const outLayer = outM[1]!;
  const res = mod.result;
  const src = res.kind === 'ref' ? layerOfRef.get(res.id) : res.kind === 'var' ? res.name : undefined;
  if (src === undefined) throw new Error('relay: the result must be a bound value or an input');
  nodes.push({ op: 'output', name: outLayer, inputs: [src], attrs: {} });
  layerTypes.set(outLayer, outM[2]!.split(', ').map(Number));

  const inputNodes: Node[] = mod.params
    .filter((p) => !weightVars.has(p.name))
    .map((p) => {
      expect(p.shape.length === 4, `input ${p.name} must be 4-D`);
      return { op: 'input', name: p.name, inputs: [], attrs: { shape: p.shape as unknown as Shape } };
    });
  const graph: Graph = {
    format: GRAPH_FORMAT,
    version: GRAPH_FORMAT_VERSION,
    name: mod.graphName ?? 'relay',
    nodes: [...inputNodes, ...nodes],
  };
  return { graph, paramTypes, layerTypes };
}

/**
 * Checks the types written in the text against the lifted graph's own shape inference:
 * parameter types against `paramSpecs`, `ty=` comments and the return type against
 * `inferShapes`. Returns the mismatches (empty when consistent).
 */
export function typeMismatches(mod: RelayModule, lifted: LiftedGraph): string[] {
  const out: string[] = [];
  const shapes = inferShapes(lifted.graph);
  const same = (a: readonly number[] | undefined, b: readonly number[] | undefined): boolean =>
    a !== undefined && b !== undefined && a.length === b.length && a.every((d, i) => d === b[i]);
  for (const spec of paramSpecs(lifted.graph, shapes)) {
    const name = spec.name.replaceAll('.', '_');
    if (!same(lifted.paramTypes.get(name), spec.shape))
      out.push(`param ${name}: ${String(lifted.paramTypes.get(name))} vs ${spec.shape.join(',')}`);
  }
  for (const node of lifted.graph.nodes) {
    if (node.op === 'input') continue;
    if (!same(lifted.layerTypes.get(node.name), shapes.get(node.name)))
      out.push(
        `layer ${node.name}: ty ${String(lifted.layerTypes.get(node.name))} vs ${shapes.get(node.name)!.join(',')}`,
      );
    const size = lifted.layerTypes.get(`${node.name}#size`);
    if (size && !same(size, shapes.get(node.name)!.slice(2)))
      out.push(`layer ${node.name}: resize size ${size.join(',')}`);
    if (node.op === 'output' && !(mod.retTypes.length === 1 && same(mod.retTypes[0], shapes.get(node.name))))
      out.push(`return type ${JSON.stringify(mod.retTypes)}`);
  }
  const weights = new Set(paramSpecs(lifted.graph, shapes).map((s) => s.name.replaceAll('.', '_')));
  for (const p of mod.params) {
    if (!weights.has(p.name) && !lifted.graph.nodes.some((n) => n.op === 'input' && n.name === p.name))
      out.push(`parameter %${p.name} is unused`);
  }
  return out;
}
