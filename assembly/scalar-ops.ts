// Tensor-by-scalar ops with torch's rounding: out[i] = R(x[i] op s); s is already in the working dtype.
import { roundModex4, roundMode } from "./inline/round";
import { OK } from "./convert";

export function mul_scalar(out: usize, x: usize, s: f32, n: usize, mode: i32): i32 {
  const sv = f32x4.splat(s);
  let i: usize = 0;
  for (; i + 4 <= n; i += 4) v128.store(out + (i << 2), roundModex4(f32x4.mul(v128.load(x + (i << 2)), sv), mode));
  for (; i < n; i++) store<f32>(out + (i << 2), roundMode(load<f32>(x + (i << 2)) * s, mode));
  return OK;
}

export function div_scalar(out: usize, x: usize, s: f32, n: usize, mode: i32): i32 {
  const sv = f32x4.splat(s);
  let i: usize = 0;
  for (; i + 4 <= n; i += 4) v128.store(out + (i << 2), roundModex4(f32x4.div(v128.load(x + (i << 2)), sv), mode));
  for (; i < n; i++) store<f32>(out + (i << 2), roundMode(load<f32>(x + (i << 2)) / s, mode));
  return OK;
}
