// The CPU's fround(float64 sum) of non-negative float32 terms, from their exact sum (the GPU's
// integer buckets, in units of 2^-149), or undefined when the float64 rounding could change it
// (gpu-sce.ts explains the bound).

/** Above this an f32 is infinite: such a sum is left to the CPU. */
const F32_LIMIT = 2n ** 128n;

/** The float32 nearest (ties to even) to v * 2^-149, v >= 0 an integer. */
export function f32OfScaled(v: bigint): number {
  if (v === 0n) return 0;
  const bits = v.toString(2).length;
  if (bits <= 24) return Number(v) * 2 ** -149;
  const shift = bits - 24;
  let q = v >> BigInt(shift);
  const rem = v - (q << BigInt(shift));
  const half = 1n << BigInt(shift - 1);
  if (rem > half || (rem === half && (q & 1n) === 1n)) q += 1n;
  return Number(q) * 2 ** (shift - 149);
}

/**
 * fround of the CPU's float64 sum of n non-negative float32 terms whose exact sum is
 * `exact` * 2^-149, or undefined when the rounding error could change it. Every term is a multiple
 * of 2^(lowShift - 149): when the sum is below 2^53 such units, so is every partial sum, and the
 * float64 sum is exact (the common case with bf16 values, whose sums can end on a float32 tie).
 */
export function certifiedSum(exact: bigint, lowShift: number, n: number): number | undefined {
  if (exact >> BigInt(lowShift) < 2n ** 53n) return exact >= F32_LIMIT * 2n ** 149n ? undefined : f32OfScaled(exact);
  const err = ((exact * BigInt(Math.ceil(n / 4) + 8)) >> 52n) + 1n;
  const lo = exact > err ? exact - err : 0n;
  const hi = exact + err;
  if (hi >= F32_LIMIT * 2n ** 149n) return undefined;
  const a = f32OfScaled(lo);
  return a === f32OfScaled(hi) ? a : undefined;
}
