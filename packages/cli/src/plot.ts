/**
 * A small line chart as SVG, rendered to PNG by sharp (librsvg): enough for "accuracy against
 * MACs/latency per NetAdapt iteration" without a plotting dependency.
 */
import sharp from 'sharp';

export interface ChartSeries {
  readonly label: string;
  readonly points: readonly { readonly x: number; readonly y: number; readonly note?: string }[];
  readonly color?: string;
}

export interface ChartOptions {
  readonly title: string;
  readonly xLabel: string;
  readonly yLabel: string;
  readonly series: readonly ChartSeries[];
  readonly width?: number;
  readonly height?: number;
}

const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e'];

function escapeXml(s: string): string {
  return s.replace(/[<>&"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;' })[c]!);
}

/** "Nice" tick values covering [lo, hi]: steps of 1, 2 or 5 times a power of ten. */
export function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw)!;
  const ticks: number[] = [];
  // Ticks as integer multiples of the step: repeated addition drifts (0 became -1.39e-17).
  for (let i = Math.ceil(lo / step); i * step <= hi + step * 1e-9; i++)
    ticks.push(i === 0 ? 0 : Number((i * step).toPrecision(12)));
  return ticks;
}

function tickLabel(v: number): string {
  const a = Math.abs(v);
  if (a >= 1e9) return `${(v / 1e9).toPrecision(3)}G`;
  if (a >= 1e6) return `${(v / 1e6).toPrecision(3)}M`;
  if (a >= 1e3) return `${(v / 1e3).toPrecision(3)}k`;
  return Number(v.toPrecision(3)).toString();
}

export function lineChartSvg(o: ChartOptions): string {
  const width = o.width ?? 720;
  const height = o.height ?? 440;
  const m = { left: 80, right: 30, top: 40 + 16 * o.series.length, bottom: 60 };
  const all = o.series.flatMap((s) => s.points);
  const xs = all.map((p) => p.x);
  const ys = all.map((p) => p.y);
  const pad = (lo: number, hi: number): [number, number] =>
    hi > lo ? [lo - (hi - lo) * 0.05, hi + (hi - lo) * 0.05] : [lo - 1, hi + 1];
  const [x0, x1] = pad(Math.min(...xs), Math.max(...xs));
  const [y0, y1] = pad(Math.min(...ys), Math.max(...ys));
  const px = (x: number): number => m.left + ((x - x0) / (x1 - x0)) * (width - m.left - m.right);
  const py = (y: number): number => height - m.bottom - ((y - y0) / (y1 - y0)) * (height - m.top - m.bottom);
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="${width / 2}" y="28" font-size="18" text-anchor="middle">${escapeXml(o.title)}</text>`,
  ];
  for (const t of niceTicks(x0, x1)) {
    parts.push(`<line x1="${px(t)}" y1="${m.top}" x2="${px(t)}" y2="${height - m.bottom}" stroke="#eee"/>`);
    parts.push(
      `<text x="${px(t)}" y="${height - m.bottom + 18}" font-size="12" text-anchor="middle">${tickLabel(t)}</text>`,
    );
  }
  for (const t of niceTicks(y0, y1)) {
    parts.push(`<line x1="${m.left}" y1="${py(t)}" x2="${width - m.right}" y2="${py(t)}" stroke="#eee"/>`);
    parts.push(
      `<text x="${m.left - 8}" y="${py(t) + 4}" font-size="12" text-anchor="end">${tickLabel(t)}</text>`,
    );
  }
  parts.push(
    `<rect x="${m.left}" y="${m.top}" width="${width - m.left - m.right}" height="${height - m.top - m.bottom}" fill="none" stroke="#333"/>`,
  );
  parts.push(
    `<text x="${width / 2}" y="${height - 16}" font-size="14" text-anchor="middle">${escapeXml(o.xLabel)}</text>`,
  );
  parts.push(
    `<text x="18" y="${height / 2}" font-size="14" text-anchor="middle" transform="rotate(-90 18 ${height / 2})">${escapeXml(o.yLabel)}</text>`,
  );
  o.series.forEach((s, i) => {
    const color = s.color ?? PALETTE[i % PALETTE.length]!;
    parts.push(
      `<polyline fill="none" stroke="${color}" stroke-width="2" points="${s.points.map((p) => `${px(p.x)},${py(p.y)}`).join(' ')}"/>`,
    );
    for (const p of s.points) {
      parts.push(`<circle cx="${px(p.x)}" cy="${py(p.y)}" r="4" fill="${color}"/>`);
      if (p.note)
        parts.push(
          `<text x="${px(p.x) + 6}" y="${py(p.y) - 6}" font-size="11" fill="#444">${escapeXml(p.note)}</text>`,
        );
    }
    parts.push(
      // Above the frame, so the legend never covers a point.
      `<text x="${width - m.right}" y="${m.top - 8 - (o.series.length - 1 - i) * 16}" font-size="13" text-anchor="end" fill="${color}">${escapeXml(s.label)}</text>`,
    );
  });
  parts.push('</svg>');
  return parts.join('\n');
}

export async function renderPng(svg: string): Promise<Uint8Array> {
  return new Uint8Array(await sharp(Buffer.from(svg)).png().toBuffer());
}
