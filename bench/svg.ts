// A small dependency-free SVG line chart: time vs --concurrency per batch
// size, one panel per workload, with cp -aT per layer and cp -a as reference lines.
export interface Panel {
  title: string;
  /** batch size -> [concurrency, seconds][] */
  series: Map<number, [number, number][]>;
  refs: { label: string; seconds: number }[];
}

const COLORS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#9467bd', '#8c564b'];
const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');

export function chart(panels: Panel[], caption: string): string {
  const pw = 360,
    ph = 240,
    m = { l: 50, r: 20, t: 30, b: 40 };
  const cols = 2;
  const rows = Math.ceil(panels.length / cols);
  const W = cols * pw,
    H = rows * ph + 30;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="11">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${W / 2}" y="18" text-anchor="middle" font-size="13">${esc(caption)}</text>`,
  ];
  panels.forEach((p, idx) => {
    const ox = (idx % cols) * pw,
      oy = 30 + Math.floor(idx / cols) * ph;
    const xs = [...new Set([...p.series.values()].flat().map(([c]) => c))].sort((a, b) => a - b);
    const ys = [...[...p.series.values()].flat().map(([, s]) => s), ...p.refs.map((r) => r.seconds)];
    const ymax = Math.max(...ys) * 1.1;
    const X = (c: number) => Math.round(ox + m.l + (xs.length === 1 ? 0.5 : xs.indexOf(c) / (xs.length - 1)) * (pw - m.l - m.r));
    const Y = (s: number) => Math.round(oy + ph - m.b - (s / ymax) * (ph - m.t - m.b));
    out.push(`<text x="${ox + pw / 2}" y="${oy + 16}" text-anchor="middle" font-weight="bold">${esc(p.title)}</text>`);
    out.push(`<line x1="${ox + m.l}" y1="${oy + ph - m.b}" x2="${ox + pw - m.r}" y2="${oy + ph - m.b}" stroke="#333"/>`);
    out.push(`<line x1="${ox + m.l}" y1="${oy + m.t}" x2="${ox + m.l}" y2="${oy + ph - m.b}" stroke="#333"/>`);
    for (const c of xs) out.push(`<text x="${X(c)}" y="${oy + ph - m.b + 14}" text-anchor="middle">${c}</text>`);
    out.push(`<text x="${ox + pw / 2}" y="${oy + ph - 8}" text-anchor="middle">--concurrency</text>`);
    for (let i = 0; i <= 4; i++) {
      const v = (ymax * i) / 4;
      out.push(`<text x="${ox + m.l - 4}" y="${Y(v) + 4}" text-anchor="end">${v.toFixed(v < 1 ? 2 : 1)}</text>`);
    }
    out.push(`<text x="${ox + 12}" y="${oy + ph / 2}" transform="rotate(-90 ${ox + 12} ${oy + ph / 2})" text-anchor="middle">seconds</text>`);
    p.refs.forEach((r, i) => {
      out.push(`<line x1="${ox + m.l}" y1="${Y(r.seconds)}" x2="${ox + pw - m.r}" y2="${Y(r.seconds)}" stroke="#d62728" stroke-dasharray="${i ? '2,3' : '6,3'}"/>`);
      out.push(`<text x="${ox + pw - m.r}" y="${Y(r.seconds) - 3}" text-anchor="end" fill="#d62728">${esc(r.label)}</text>`);
    });
    [...p.series.entries()].forEach(([batch, pts], i) => {
      const color = COLORS[i % COLORS.length];
      out.push(`<polyline fill="none" stroke="${color}" stroke-width="2" points="${pts.map(([c, s]) => `${X(c)},${Y(s)}`).join(' ')}"/>`);
      for (const [c, s] of pts) out.push(`<circle cx="${X(c)}" cy="${Y(s)}" r="3" fill="${color}"/>`);
      out.push(`<text x="${ox + m.l + 8}" y="${oy + m.t + 12 + i * 13}" fill="${color}">batch ${batch}</text>`);
    });
  });
  out.push('</svg>');
  return out.join('\n');
}
