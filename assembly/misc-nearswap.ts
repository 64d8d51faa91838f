// nearswap (MergeKit nearswap.py): w = clamp(t / clamp(|a - b|, min=floor), 0, 1),
// out = w * b + (1 - w) * a, a = base. torch computes `t / x` as x.reciprocal() * t, so
// w = R(R(1 / R(max(|R(a - b)|, floor))) * t); every op is rounded to the working dtype.
import { roundMode } from "./inline/round";
import { OK } from "./convert";

/** t and floor are already in the working dtype. NaN differences give NaN. */
export function misc_nearswap(out: usize, a: usize, b: usize, t: f32, floor: f32, n: usize, mode: i32): i32 {
  for (let i: usize = 0; i < n; i++) {
    const av = load<f32>(a + (i << 2));
    const bv = load<f32>(b + (i << 2));
    const d = abs<f32>(roundMode(av - bv, mode));
    const cl = d != d ? d : max<f32>(d, floor);
    let w = roundMode(roundMode(<f32>1 / cl, mode) * t, mode);
    if (w == w) w = min<f32>(max<f32>(w, 0), 1);
    const omw = roundMode(<f32>1 - w, mode);
    store<f32>(out + (i << 2), roundMode(roundMode(w * bv, mode) + roundMode(omw * av, mode), mode));
  }
  return OK;
}
