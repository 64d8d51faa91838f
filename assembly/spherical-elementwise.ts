// Elementwise steps of the spherical methods. R() rounds to the working dtype (mode), as torch
// rounds every elementwise result; NumPy's float32 steps (slerp) round to float32 only.
import { OK } from "./convert";
import { roundMode, roundModex4 } from "./inline/round";

/** out[i] = R(f32(a*x[i]) + f32(b*y[i])): NumPy's float32 `a*x + b*y`, then the cast to the dtype. */
export function numpy_axpby(out: usize, x: usize, y: usize, a: f32, b: f32, n: usize, mode: i32): i32 {
  const av = f32x4.splat(a);
  const bv = f32x4.splat(b);
  let i: usize = 0;
  for (; i + 4 <= n; i += 4) {
    const o = i << 2;
    v128.store(out + o, roundModex4(f32x4.add(f32x4.mul(v128.load(x + o), av), f32x4.mul(v128.load(y + o), bv)), mode));
  }
  for (; i < n; i++) {
    const o = i << 2;
    store<f32>(out + o, roundMode(load<f32>(x + o) * a + load<f32>(y + o) * b, mode));
  }
  return OK;
}

/**
 * out = R(R(R(a_k*x) + R(b_k*y)) / d_k) over a rows x cols tensor, with one coefficient triple per
 * row (perCol = 0: k = row) or per column (perCol = 1: k = column); a, b, d are f32 arrays.
 * d_k = 1 leaves the sum as it is (R(v / 1) = v for a value already in the dtype).
 */
export function sph_comb2(out: usize, x: usize, y: usize, a: usize, b: usize, d: usize, rows: usize, cols: usize, perCol: i32, mode: i32): i32 {
  for (let r: usize = 0; r < rows; r++) {
    const base = r * cols;
    let c: usize = 0;
    if (perCol) {
      for (; c + 4 <= cols; c += 4) {
        const o = (base + c) << 2;
        const k = c << 2;
        const s = f32x4.add(roundModex4(f32x4.mul(v128.load(a + k), v128.load(x + o)), mode), roundModex4(f32x4.mul(v128.load(b + k), v128.load(y + o)), mode));
        v128.store(out + o, roundModex4(f32x4.div(roundModex4(s, mode), v128.load(d + k)), mode));
      }
    } else {
      const k = r << 2;
      const av = f32x4.splat(load<f32>(a + k));
      const bv = f32x4.splat(load<f32>(b + k));
      const dv = f32x4.splat(load<f32>(d + k));
      for (; c + 4 <= cols; c += 4) {
        const o = (base + c) << 2;
        const s = f32x4.add(roundModex4(f32x4.mul(av, v128.load(x + o)), mode), roundModex4(f32x4.mul(bv, v128.load(y + o)), mode));
        v128.store(out + o, roundModex4(f32x4.div(roundModex4(s, mode), dv), mode));
      }
    }
    for (; c < cols; c++) {
      const o = (base + c) << 2;
      const k = (perCol ? c : r) << 2;
      const s = roundMode(load<f32>(a + k) * load<f32>(x + o), mode) + roundMode(load<f32>(b + k) * load<f32>(y + o), mode);
      store<f32>(out + o, roundMode(roundMode(s, mode) / load<f32>(d + k), mode));
    }
  }
  return OK;
}

/** out = R(x / s_k) over a rows x cols tensor, one divisor per row (perCol = 0) or column (1). */
export function sph_div_by(out: usize, x: usize, s: usize, rows: usize, cols: usize, perCol: i32, mode: i32): i32 {
  for (let r: usize = 0; r < rows; r++) {
    const base = r * cols;
    let c: usize = 0;
    if (perCol) {
      for (; c + 4 <= cols; c += 4) {
        const o = (base + c) << 2;
        v128.store(out + o, roundModex4(f32x4.div(v128.load(x + o), v128.load(s + (c << 2))), mode));
      }
    } else {
      const sv = f32x4.splat(load<f32>(s + (r << 2)));
      for (; c + 4 <= cols; c += 4) {
        const o = (base + c) << 2;
        v128.store(out + o, roundModex4(f32x4.div(v128.load(x + o), sv), mode));
      }
    }
    for (; c < cols; c++) {
      const o = (base + c) << 2;
      store<f32>(out + o, roundMode(load<f32>(x + o) / load<f32>(s + ((perCol ? c : r) << 2)), mode));
    }
  }
  return OK;
}

/** out[i] = R(x[i] + y[i]). */
export function sph_add(out: usize, x: usize, y: usize, n: usize, mode: i32): i32 {
  let i: usize = 0;
  for (; i + 4 <= n; i += 4) v128.store(out + (i << 2), roundModex4(f32x4.add(v128.load(x + (i << 2)), v128.load(y + (i << 2))), mode));
  for (; i < n; i++) store<f32>(out + (i << 2), roundMode(load<f32>(x + (i << 2)) + load<f32>(y + (i << 2)), mode));
  return OK;
}

/** out[i] = R(x[i] - y[i]). */
export function sph_sub(out: usize, x: usize, y: usize, n: usize, mode: i32): i32 {
  let i: usize = 0;
  for (; i + 4 <= n; i += 4) v128.store(out + (i << 2), roundModex4(f32x4.sub(v128.load(x + (i << 2)), v128.load(y + (i << 2))), mode));
  for (; i < n; i++) store<f32>(out + (i << 2), roundMode(load<f32>(x + (i << 2)) - load<f32>(y + (i << 2)), mode));
  return OK;
}

/** out[i] = R(x[i] - R(s * y[i])): torch's `x - s * y` with a scalar s already in the dtype. */
export function sph_sub_scaled(out: usize, x: usize, y: usize, s: f32, n: usize, mode: i32): i32 {
  const sv = f32x4.splat(s);
  let i: usize = 0;
  for (; i + 4 <= n; i += 4) {
    const o = i << 2;
    v128.store(out + o, roundModex4(f32x4.sub(v128.load(x + o), roundModex4(f32x4.mul(sv, v128.load(y + o)), mode)), mode));
  }
  for (; i < n; i++) {
    const o = i << 2;
    store<f32>(out + o, roundMode(load<f32>(x + o) - roundMode(s * load<f32>(y + o), mode), mode));
  }
  return OK;
}

/**
 * out[0] = torch 1.13's CPU `torch.dot` for bf16 vectors of up to 4096 elements: a sequential sum
 * in the dtype, every product and every partial sum rounded (acc = R(acc + R(x*y))).
 */
export function torch_dot_rounded(out: usize, x: usize, y: usize, n: usize, mode: i32): i32 {
  let acc: f32 = 0;
  for (let i: usize = 0; i < n; i++) acc = roundMode(acc + roundMode(load<f32>(x + (i << 2)) * load<f32>(y + (i << 2)), mode), mode);
  store<f32>(out, acc);
  return OK;
}
