// Folding a LoRA delta into a weight as PEFT's merge does on CPU: the delta B.A is computed in
// float32 (svd_matmul), scaled by alpha/r in float32, cast to the weight's dtype, then added in
// that dtype: out[i] = R(w[i] + R(d[i] * scale)). out may alias w or d.
import { roundMode, roundModex4 } from "./inline/round";

export function lora_merge(out: usize, w: usize, d: usize, scale: f32, n: usize, mode: i32): i32 {
  const sv = f32x4.splat(scale);
  let i: usize = 0;
  for (; i + 4 <= n; i += 4) {
    const delta = roundModex4(f32x4.mul(v128.load(d + (i << 2)), sv), mode);
    v128.store(out + (i << 2), roundModex4(f32x4.add(v128.load(w + (i << 2)), delta), mode));
  }
  for (; i < n; i++) {
    const delta = roundMode(load<f32>(d + (i << 2)) * scale, mode);
    store<f32>(out + (i << 2), roundMode(load<f32>(w + (i << 2)) + delta, mode));
  }
  return 0;
}
