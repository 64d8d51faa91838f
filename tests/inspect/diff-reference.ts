// Plain TypeScript references for `amalgam diff`: one element at a time, float64, index order.

/** The statistics one element at a time, in float64, in index order. */
export function diffStatsRef(a: ArrayLike<number>, b: ArrayLike<number>): number[] {
  let changed = 0, dd = 0, aa = 0, bb = 0, ab = 0, mx = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!, y = b[i]!;
    if (x !== y && !(Number.isNaN(x) && Number.isNaN(y))) changed++;
    const d = x - y;
    dd += d * d; aa += x * x; bb += y * y; ab += x * y;
    mx = Number.isNaN(d) || Number.isNaN(mx) ? NaN : Math.max(mx, Math.abs(d));
  }
  return [changed, dd, aa, bb, ab, mx];
}
