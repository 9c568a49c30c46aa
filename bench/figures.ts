/** One line of issue #11's table: our figure beside its reference from the same run, the ratio and the goal. */
export interface Figure {
  what: string;
  ours: string;
  reference: string;
  /** ours ÷ reference (what the goal is stated on, unless `goal` says otherwise). */
  ratio: number;
  goal: string;
  met: boolean;
  /** Why it was measured differently from the table (scaled down, skipped). */
  note?: string;
}

export const ratioText = (r: number) => (Number.isFinite(r) ? (r >= 10 ? r.toFixed(0) : r >= 0.1 ? r.toFixed(2) : r.toFixed(3)) + '×' : '—');

export function formatFigures(figures: Figure[]): string {
  const cols = [
    { head: 'what', width: 58, get: (f: Figure) => f.what },
    { head: 'ours', width: 16, get: (f: Figure) => f.ours },
    { head: 'reference', width: 26, get: (f: Figure) => f.reference },
    { head: 'ratio', width: 9, get: (f: Figure) => ratioText(f.ratio) },
    { head: 'goal', width: 24, get: (f: Figure) => f.goal },
    { head: 'met', width: 4, get: (f: Figure) => (f.met ? 'yes' : 'NO') },
  ];
  const row = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(cols[i]!.width))
      .join(' ')
      .trimEnd();
  const lines = [row(cols.map((c) => c.head)), row(cols.map((c) => '-'.repeat(c.width)))];
  for (const f of figures) {
    lines.push(row(cols.map((c) => c.get(f))));
    if (f.note) lines.push(`  ↳ ${f.note}`);
  }
  return lines.join('\n');
}

export const ms = (n: number | null) => (n === null || !Number.isFinite(n) ? '—' : `${n < 10 ? n.toFixed(2) : n.toFixed(0)} ms`);
export const perSecond = (n: number) => `${n.toFixed(0)}/s`;
export const kib = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`;
