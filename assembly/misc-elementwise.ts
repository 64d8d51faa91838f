// Elementwise tensor-tensor ops with torch's rounding: out[i] = R(a[i] op b[i]), computed in
// float32 and rounded to the working dtype (mode). out may alias a or b.
import { roundModex4, roundMode } from "./inline/round";
import { OK } from "./convert";

export function misc_sub(out: usize, a: usize, b: usize, n: usize, mode: i32): i32 {
  let i: usize = 0;
  for (; i + 4 <= n; i += 4) {
    v128.store(out + (i << 2), roundModex4(f32x4.sub(v128.load(a + (i << 2)), v128.load(b + (i << 2))), mode));
  }
  for (; i < n; i++) store<f32>(out + (i << 2), roundMode(load<f32>(a + (i << 2)) - load<f32>(b + (i << 2)), mode));
  return OK;
}

export function misc_add(out: usize, a: usize, b: usize, n: usize, mode: i32): i32 {
  let i: usize = 0;
  for (; i + 4 <= n; i += 4) {
    v128.store(out + (i << 2), roundModex4(f32x4.add(v128.load(a + (i << 2)), v128.load(b + (i << 2))), mode));
  }
  for (; i < n; i++) store<f32>(out + (i << 2), roundMode(load<f32>(a + (i << 2)) + load<f32>(b + (i << 2)), mode));
  return OK;
}

export function misc_mul(out: usize, a: usize, b: usize, n: usize, mode: i32): i32 {
  let i: usize = 0;
  for (; i + 4 <= n; i += 4) {
    v128.store(out + (i << 2), roundModex4(f32x4.mul(v128.load(a + (i << 2)), v128.load(b + (i << 2))), mode));
  }
  for (; i < n; i++) store<f32>(out + (i << 2), roundMode(load<f32>(a + (i << 2)) * load<f32>(b + (i << 2)), mode));
  return OK;
}
