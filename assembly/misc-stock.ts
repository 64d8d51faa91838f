// model_stock (MergeKit model_stock.py): the average of the fine-tunes and the final mix.
import { roundModex4, roundMode } from "./inline/round";
import { OK } from "./convert";

/**
 * out = R(R(R(R(0 + x_0) + x_1) + ...) / K): Python's sum() of K tensors, one rounded add at a
 * time, then the division by K. `ptrs` holds K u32 pointers.
 */
export function misc_seq_mean(out: usize, ptrs: usize, k: i32, n: usize, mode: i32): i32 {
  const kf = roundMode(<f32>k, mode);
  const kv = f32x4.splat(kf);
  let j: usize = 0;
  for (; j + 4 <= n; j += 4) {
    let acc = f32x4.splat(0);
    for (let i = 0; i < k; i++) acc = roundModex4(f32x4.add(acc, v128.load(<usize>load<u32>(ptrs + (<usize>i << 2)) + (j << 2))), mode);
    v128.store(out + (j << 2), roundModex4(f32x4.div(acc, kv), mode));
  }
  for (; j < n; j++) {
    let acc: f32 = 0;
    for (let i = 0; i < k; i++) acc = roundMode(acc + load<f32>(<usize>load<u32>(ptrs + (<usize>i << 2)) + (j << 2)), mode);
    store<f32>(out + (j << 2), roundMode(acc / kf, mode));
  }
  return OK;
}

/** out[r, c] = R(R(t[r] * avg[r, c]) + R(R(1 - t[r]) * w0[r, c])) for a [rows, cols] tensor. */
export function misc_stock_mix(out: usize, avg: usize, w0: usize, t: usize, rows: usize, cols: usize, mode: i32): i32 {
  for (let r: usize = 0; r < rows; r++) {
    const tr = load<f32>(t + (r << 2));
    const omt = roundMode(<f32>1 - tr, mode);
    const tv = f32x4.splat(tr);
    const ov = f32x4.splat(omt);
    const base = r * cols * 4;
    let c: usize = 0;
    for (; c + 4 <= cols; c += 4) {
      const o = base + (c << 2);
      const x = roundModex4(f32x4.mul(tv, v128.load(avg + o)), mode);
      const y = roundModex4(f32x4.mul(ov, v128.load(w0 + o)), mode);
      v128.store(out + o, roundModex4(f32x4.add(x, y), mode));
    }
    for (; c < cols; c++) {
      const o = base + (c << 2);
      store<f32>(out + o, roundMode(roundMode(tr * load<f32>(avg + o), mode) + roundMode(omt * load<f32>(w0 + o), mode), mode));
    }
  }
  return OK;
}
