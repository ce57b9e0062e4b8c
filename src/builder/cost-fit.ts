/**
 * Smoothing of measured costs by what the graphs share. Timing noise on a shared machine
 * differs from session to session by a few percent of the backbone, more than the
 * differences the selection weighs, so each cost is fitted from every measurement of
 * graphs of the same shape rather than read off its own.
 * Invariants: a fit never invents structure (with all classes distinct it returns the
 * measurements unchanged, up to rounding); a fit that would give some class a negative cost
 * is refused and the measurements are returned unchanged; `isotonic` returns a curve that
 * never falls.
 */
import { LayercacheError } from '../errors/index.ts';

/**
 * Least-squares non-decreasing fit (pool adjacent violators, equal weights): the closest
 * sequence to `values` that never falls, e.g. [1, 3, 2, 4] → [1, 2.5, 2.5, 4].
 */
export function isotonic(values: readonly number[]): number[] {
  const blocks: { sum: number; count: number }[] = [];
  for (const v of values) {
    blocks.push({ sum: v, count: 1 });
    while (blocks.length > 1) {
      const b = blocks[blocks.length - 1]!;
      const a = blocks[blocks.length - 2]!;
      if (a.sum / a.count <= b.sum / b.count) break;
      blocks.pop();
      a.sum += b.sum;
      a.count += b.count;
    }
  }
  return blocks.flatMap((b) => new Array<number>(b.count).fill(b.sum / b.count));
}

/** Solves the square system A x = b by Gaussian elimination with partial pivoting (A, b copied). */
function solve(a: readonly number[][], b: readonly number[]): number[] {
  const n = b.length;
  const m = a.map((row, i) => [...row, b[i]!]);
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(m[r]![c]!) > Math.abs(m[p]![c]!)) p = r;
    if (Math.abs(m[p]![c]!) < 1e-12) throw new LayercacheError('INTERNAL', `singular system in the cost fit (column ${c})`);
    [m[c], m[p]] = [m[p]!, m[c]!];
    for (let r = c + 1; r < n; r++) {
      const f = m[r]![c]! / m[c]![c]!;
      for (let k = c; k <= n; k++) m[r]![k]! -= f * m[c]![k]!;
    }
  }
  const x = new Array<number>(n).fill(0);
  for (let r = n - 1; r >= 0; r--) {
    let s = m[r]![n]!;
    for (let k = r + 1; k < n; k++) s -= m[r]![k]! * x[k]!;
    x[r] = s / m[r]![r]!;
  }
  return x;
}

/**
 * prefix[e]: measured cost of the network up to exit e; segmentClass[e]: class of the segment
 * that ends at exit e (from exit e − 1, or the input for e = 0), equal for segments of one
 * graph shape. Fits one cost per class, prefix[e] ≈ Σ_{s ≤ e} cost[class(s)], by least squares,
 * and returns the fitted prefix costs (for a ResNet: one cost per residual block per stage), or
 * the measurements themselves when the fit gives a class a negative cost.
 */
export function fitPrefixCosts(prefix: readonly number[], segmentClass: readonly number[]): number[] {
  if (prefix.length !== segmentClass.length) {
    throw new LayercacheError('INTERNAL', `${prefix.length} prefix costs but ${segmentClass.length} segment classes`);
  }
  const classes = [...new Set(segmentClass)];
  const col = new Map(classes.map((c, k) => [c, k]));
  const counts = new Array<number>(classes.length).fill(0);
  const rows = segmentClass.map((c) => {
    counts[col.get(c)!]!++;
    return [...counts];
  });
  const k = classes.length;
  const ata = Array.from({ length: k }, (_, i) => Array.from({ length: k }, (_, j) => rows.reduce((s, r) => s + r[i]! * r[j]!, 0)));
  const atb = Array.from({ length: k }, (_, i) => rows.reduce((s, r, e) => s + r[i]! * prefix[e]!, 0));
  const cost = solve(ata, atb);
  // A negative cost is noise the model cannot explain: keep the measurements instead.
  if (cost.some((c) => c < 0)) return [...prefix];
  return rows.map((r) => r.reduce((s, n, i) => s + n * cost[i]!, 0));
}
