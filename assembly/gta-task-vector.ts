// Task vectors: out[i] = R(x[i] - base[i]), torch's `x - base` in the working dtype.
import { roundModex4, roundMode } from "./inline/round";
import { OK } from "./convert";

/** out may alias x (the model's buffer becomes its task vector). */
export function task_vector(out: usize, x: usize, base: usize, n: usize, mode: i32): i32 {
  let i: usize = 0;
  for (; i + 4 <= n; i += 4) {
    v128.store(out + (i << 2), roundModex4(f32x4.sub(v128.load(x + (i << 2)), v128.load(base + (i << 2))), mode));
  }
  for (; i < n; i++) store<f32>(out + (i << 2), roundMode(load<f32>(x + (i << 2)) - load<f32>(base + (i << 2)), mode));
  return OK;
}
