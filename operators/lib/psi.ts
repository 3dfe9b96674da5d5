// Population stability index between a reference and a current sample: Σ (c − r) · ln(c / r) over shared bins.
// Bins are the reference's quantiles, so each holds about the same share of the reference; empty bins get a
// small floor so the logarithm stays finite. Rules of thumb: < 0.1 stable, 0.1–0.25 moderate, > 0.25 shifted.

export const PSI_FLOOR = 1e-4;

/** Inner bin edges at the reference's quantiles (duplicates removed). */
export function quantileEdges(reference: readonly number[], bins: number): number[] {
  const sorted = [...reference].sort((a, b) => a - b);
  const edges: number[] = [];
  for (let i = 1; i < bins; i++) {
    const q = sorted[Math.min(sorted.length - 1, Math.floor((i * sorted.length) / bins))];
    if (q !== undefined && (edges.length === 0 || q > (edges[edges.length - 1] as number))) edges.push(q);
  }
  return edges;
}

/** Shares of `values` per bin; bin i holds edges[i-1] < v <= edges[i] (first and last open-ended). */
export function binShares(values: readonly number[], edges: readonly number[]): number[] {
  const counts = new Array<number>(edges.length + 1).fill(0);
  for (const v of values) {
    let i = 0;
    while (i < edges.length && v > (edges[i] as number)) i++;
    counts[i] = (counts[i] as number) + 1;
  }
  return counts.map((c) => c / Math.max(1, values.length));
}

export function psi(reference: readonly number[], current: readonly number[], bins = 10): number {
  if (reference.length === 0 || current.length === 0) return 0;
  const edges = quantileEdges(reference, bins);
  const r = binShares(reference, edges);
  const c = binShares(current, edges);
  return r.reduce((sum, ri, i) => {
    const rr = Math.max(ri, PSI_FLOOR);
    const cc = Math.max(c[i] as number, PSI_FLOOR);
    return sum + (cc - rr) * Math.log(cc / rr);
  }, 0);
}
