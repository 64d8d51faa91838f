// Task vectors: out[i] = R(x[i] - base[i]), torch's `x - base` in the working dtype.
import { MODE_BF16, MODE_F16, MODE_F32, roundModex4, roundMode } from "./inline/round";
import { f16ToF32, f16ToF32x4 } from "./inline/f16";
import { E_DTYPE, OK } from "./convert";

/** out may alias x (the model's buffer becomes its task vector). */
export function task_vector(out: usize, x: usize, base: usize, n: usize, mode: i32): i32 {
  let i: usize = 0;
  for (; i + 4 <= n; i += 4) {
    v128.store(out + (i << 2), roundModex4(f32x4.sub(v128.load(x + (i << 2)), v128.load(base + (i << 2))), mode));
  }
  for (; i < n; i++) store<f32>(out + (i << 2), roundMode(load<f32>(x + (i << 2)) - load<f32>(base + (i << 2)), mode));
  return OK;
}

// @ts-ignore: decorator
@inline function loadStoredx4(x: usize, i: usize, dtype: i32): v128 {
  if (dtype == MODE_BF16) return i32x4.shl(v128.load16x4_u(x + (i << 1)), 16);
  if (dtype == MODE_F16) return f16ToF32x4(v128.load16x4_u(x + (i << 1)));
  return v128.load(x + (i << 2));
}

// @ts-ignore: decorator
@inline function loadStored(x: usize, i: usize, dtype: i32): f32 {
  if (dtype == MODE_BF16) return reinterpret<f32>((<u32>load<u16>(x + (i << 1))) << 16);
  if (dtype == MODE_F16) return f16ToF32(<u32>load<u16>(x + (i << 1)));
  return load<f32>(x + (i << 2));
}

// @ts-ignore: decorator
@inline function tvStored(out: usize, x: usize, dtype: i32, base: usize, n: usize, mode: i32): void {
  let i: usize = 0;
  for (; i + 4 <= n; i += 4) {
    let v = loadStoredx4(x, i, dtype);
    if (dtype != mode) v = roundModex4(v, mode);
    v128.store(out + (i << 2), roundModex4(f32x4.sub(v, v128.load(base + (i << 2))), mode));
  }
  for (; i < n; i++) {
    let v = loadStored(x, i, dtype);
    if (dtype != mode) v = roundMode(v, mode);
    store<f32>(out + (i << 2), roundMode(v - load<f32>(base + (i << 2)), mode));
  }
}

// @ts-ignore: decorator
@inline function tvStoredIn(out: usize, x: usize, dtype: i32, base: usize, n: usize, mode: i32): void {
  if (mode == MODE_BF16) tvStored(out, x, dtype, base, n, MODE_BF16);
  else if (mode == MODE_F16) tvStored(out, x, dtype, base, n, MODE_F16);
  else tvStored(out, x, dtype, base, n, MODE_F32);
}

/**
 * The task vector of a model stored as `dtype` (0 f32, 1 bf16, 2 f16), in one pass: decode,
 * round to the working dtype when it differs from the stored one, subtract base (float32 values
 * of the working dtype), round: the same bytes as decode, round_to and task_vector.
 */
export function task_vector_stored(out: usize, x: usize, dtype: i32, base: usize, n: usize, mode: i32): i32 {
  if (dtype == MODE_BF16) tvStoredIn(out, x, MODE_BF16, base, n, mode);
  else if (dtype == MODE_F16) tvStoredIn(out, x, MODE_F16, base, n, mode);
  else if (dtype == MODE_F32) tvStoredIn(out, x, MODE_F32, base, n, mode);
  else return E_DTYPE;
  return OK;
}
