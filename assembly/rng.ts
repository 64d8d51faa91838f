// Counter-based random numbers (docs/random.md): element i of a stream keyed by `key` is
// splitmix64(key + i * 0x9E3779B97F4A7C15), its top 24 bits scaled to a float32 in [0, 1).
// Any element can be computed on its own, so tiles and threads give the same bytes.
import { OK } from "./convert";

const GOLDEN: u64 = 0x9e3779b97f4a7c15;

// @ts-ignore: decorator
@inline export function mix64(z: u64): u64 {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9;
  z = (z ^ (z >> 27)) * 0x94d049bb133111eb;
  return z ^ (z >> 31);
}

// @ts-ignore: decorator
@inline export function uniformAt(key: u64, i: u64): f32 {
  return <f32>(mix64(key + i * GOLDEN) >> 40) * (<f32>1.0 / <f32>16777216.0);
}

/** out[j] = uniform(key, start + j) for j < n. key = keyHi:keyLo. */
export function rng_uniform(out: usize, keyLo: u32, keyHi: u32, start: f64, n: usize): i32 {
  const key = ((<u64>keyHi) << 32) | <u64>keyLo;
  const s = <u64>start;
  for (let j: usize = 0; j < n; j++) store<f32>(out + (j << 2), uniformAt(key, s + <u64>j));
  return OK;
}

/** mask[j] = 1.0 if uniform(key, start + j) < p[j or 0] else 0.0; `p` is per element when perElement != 0. */
export function rng_bernoulli(out: usize, keyLo: u32, keyHi: u32, start: f64, p: usize, perElement: i32, n: usize): i32 {
  const key = ((<u64>keyHi) << 32) | <u64>keyLo;
  const s = <u64>start;
  const p0 = load<f32>(p);
  for (let j: usize = 0; j < n; j++) {
    const pj = perElement ? load<f32>(p + (j << 2)) : p0;
    store<f32>(out + (j << 2), uniformAt(key, s + <u64>j) < pj ? <f32>1.0 : <f32>0.0);
  }
  return OK;
}
