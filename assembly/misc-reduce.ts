// torch's CPU reductions, in torch's own summation order (torch 1.13, x86 AVX2 build: 8 float32
// lanes), so a reduction gives the same float32 bits before its single rounding to the dtype.
//
// torch.sum on CPU is `cascade_sum` (aten/src/ATen/native/cpu/SumKernel.cpp). Over the last dim
// (rows of `cols` contiguous elements) it is `vectorized_inner_sum` when cols >= one vector
// (16 bf16/f16 or 8 f32 elements), else `scalar_inner_sum`. Both call `row_sum`, which views the
// row as groups of 4 vectors (ILP 4) and sums each of the 4 streams with `multi_row_sum`: a
// 4-level cascade that moves level j into level j+1 every 2^(j*p) groups, p = max(4,
// ceil(log2(groups)) / 4). Leftover vectors go into stream 0, the streams are added 0+1+2+3,
// leftover elements are summed into a scalar from 0, then the 8 lanes are added in lane order.
// A bf16/f16 vector load adds adjacent pairs: lane l = x[2l] + x[2l+1] (`load_reduce_vec`).
// Over dim 0 of K stacked tensors (`vectorized_outer_sum`), columns in blocks of 32 use
// `multi_row_sum` over the K rows, the next blocks of 8 and the last columns use `row_sum`.
// Every sum starts from +0 and the result is stored as R(0 + acc).
//
// Not reproduced: above 32768 elements with one output, torch splits the sum over threads and
// rounds each thread's partial sum to the dtype; that depends on the machine's thread count.
// torch.norm(p=2) over the last dim (bf16 and f32: `norm_two_reduce_step`) keeps 8 float32
// lanes, adds each 16-element bf16 vector as its low then its high 8 squares, adds the lanes in
// order, then the leftover squares; f16 takes torch's generic path, a plain sequential sum.
import { MODE_F16, MODE_F32, roundMode } from "./inline/round";
import { OK } from "./convert";

/** utils::CeilLog2 as used by multi_row_sum. */
// @ts-ignore: decorator
@inline function ceilLog2(x: usize): usize {
  if (x <= 2) return 1;
  return <usize>(64 - clz<u64>(<u64>(x - 1)));
}

// @ts-ignore: decorator
@inline function levelPower(groups: usize): usize {
  return max<usize>(4, ceilLog2(groups) / 4);
}

/** Lanes 0-3 (or 4-7 when `hi`) of the 8-lane vector number `v` of a row at `x`. */
// @ts-ignore: decorator
@inline function vecAt(x: usize, v: usize, pairs: bool, hi: bool): v128 {
  if (pairs) {
    // a bf16/f16 vector is 16 elements; lane l = x[2l] + x[2l+1]
    const p = x + (v << 6) + (hi ? 32 : 0);
    const a = v128.load(p);
    const b = v128.load(p, 16);
    return f32x4.add(v128.shuffle<f32>(a, b, 0, 2, 4, 6), v128.shuffle<f32>(a, b, 1, 3, 5, 7));
  }
  return v128.load(x + (v << 5) + (hi ? 16 : 0));
}

/**
 * multi_row_sum for ILP stream k of `groups` groups of 4 vectors: one half (lanes 0-3 or 4-7)
 * of the 8-lane accumulator. Lanes and streams are independent, so each is its own pass over
 * the groups and gives the same bits as torch's interleaved loop.
 */
function vecStream(x: usize, k: usize, groups: usize, pairs: bool, hi: bool): v128 {
  const p = levelPower(groups);
  const step: usize = (<usize>1) << p;
  const mask = step - 1;
  const zero = f32x4.splat(0);
  let l0 = zero, l1 = zero, l2 = zero, l3 = zero;
  let i: usize = 0;
  while (i + step <= groups) {
    for (let j: usize = 0; j < step; j++, i++) l0 = f32x4.add(l0, vecAt(x, (i << 2) + k, pairs, hi));
    l1 = f32x4.add(l1, l0); l0 = zero;
    if ((i & (mask << p)) != 0) continue;
    l2 = f32x4.add(l2, l1); l1 = zero;
    if ((i & (mask << (2 * p))) != 0) continue;
    l3 = f32x4.add(l3, l2); l2 = zero;
  }
  for (; i < groups; i++) l0 = f32x4.add(l0, vecAt(x, (i << 2) + k, pairs, hi));
  return f32x4.add(f32x4.add(f32x4.add(l0, l1), l2), l3);
}

/** row_sum's result for one half of the 8 lanes: streams 0..3 plus leftover vectors. */
function vecRowSum(x: usize, vecs: usize, pairs: bool, hi: bool): v128 {
  const groups = vecs >> 2;
  let s0 = vecStream(x, 0, groups, pairs, hi);
  const s1 = vecStream(x, 1, groups, pairs, hi);
  const s2 = vecStream(x, 2, groups, pairs, hi);
  const s3 = vecStream(x, 3, groups, pairs, hi);
  for (let v = groups << 2; v < vecs; v++) s0 = f32x4.add(s0, vecAt(x, v, pairs, hi));
  return f32x4.add(f32x4.add(f32x4.add(s0, s1), s2), s3);
}

/** Sum of lanes 0..7 in lane order, starting from `acc`. */
// @ts-ignore: decorator
@inline function addLanes(acc: f32, lo: v128, hi: v128): f32 {
  acc += f32x4.extract_lane(lo, 0); acc += f32x4.extract_lane(lo, 1);
  acc += f32x4.extract_lane(lo, 2); acc += f32x4.extract_lane(lo, 3);
  acc += f32x4.extract_lane(hi, 0); acc += f32x4.extract_lane(hi, 1);
  acc += f32x4.extract_lane(hi, 2); acc += f32x4.extract_lane(hi, 3);
  return acc;
}

/** multi_row_sum over scalars: stream k of `groups` groups of 4 elements at stride `stride` bytes. */
function scalarStream(x: usize, stride: usize, k: usize, groups: usize): f32 {
  const p = levelPower(groups);
  const step: usize = (<usize>1) << p;
  const mask = step - 1;
  let l0: f32 = 0, l1: f32 = 0, l2: f32 = 0, l3: f32 = 0;
  let i: usize = 0;
  while (i + step <= groups) {
    for (let j: usize = 0; j < step; j++, i++) l0 += load<f32>(x + ((i << 2) + k) * stride);
    l1 += l0; l0 = 0;
    if ((i & (mask << p)) != 0) continue;
    l2 += l1; l1 = 0;
    if ((i & (mask << (2 * p))) != 0) continue;
    l3 += l2; l2 = 0;
  }
  for (; i < groups; i++) l0 += load<f32>(x + ((i << 2) + k) * stride);
  l0 += l1; l0 += l2; l0 += l3;
  return l0;
}

/** row_sum over `n` scalars at stride `stride` bytes (ILP 4). */
function scalarRowSum(x: usize, stride: usize, n: usize): f32 {
  const groups = n >> 2;
  let p0 = scalarStream(x, stride, 0, groups);
  const p1 = scalarStream(x, stride, 1, groups);
  const p2 = scalarStream(x, stride, 2, groups);
  const p3 = scalarStream(x, stride, 3, groups);
  for (let i = groups << 2; i < n; i++) p0 += load<f32>(x + i * stride);
  p0 += p1; p0 += p2; p0 += p3;
  return p0;
}

/** cascade_sum of one contiguous row of `cols` float32 values (see the file comment). */
function innerSum(x: usize, cols: usize, mode: i32): f32 {
  const pairs = mode != MODE_F32;
  const vecNumel: usize = pairs ? 16 : 8;
  if (cols < vecNumel) return scalarRowSum(x, 4, cols);
  const vecs = cols / vecNumel;
  const lo = vecRowSum(x, vecs, pairs, false);
  const hi = vecRowSum(x, vecs, pairs, true);
  let acc: f32 = 0;
  for (let i = vecs * vecNumel; i < cols; i++) acc += load<f32>(x + (i << 2));
  return addLanes(acc, lo, hi);
}

/** out[r] = R(torch.sum(x[r, :])) for a [rows, cols] tensor. */
export function misc_row_sum(out: usize, x: usize, rows: usize, cols: usize, mode: i32): i32 {
  for (let r: usize = 0; r < rows; r++) {
    store<f32>(out + (r << 2), roundMode(<f32>0 + innerSum(x + r * cols * 4, cols, mode), mode));
  }
  return OK;
}

/** out[r] = R(torch.norm(x[r, :])) (p = 2) for a [rows, cols] tensor. */
export function misc_row_norm(out: usize, x: usize, rows: usize, cols: usize, mode: i32): i32 {
  for (let r: usize = 0; r < rows; r++) {
    const row = x + r * cols * 4;
    let acc: f32 = 0;
    if (mode == MODE_F16) {
      for (let i: usize = 0; i < cols; i++) { const v = load<f32>(row + (i << 2)); acc += v * v; }
    } else {
      const vecNumel: usize = mode == MODE_F32 ? 8 : 16;
      const end = cols - cols % vecNumel;
      let lo = f32x4.splat(0), hi = f32x4.splat(0);
      let i: usize = 0;
      for (; i < end; i += 8) {
        const a = v128.load(row + (i << 2));
        const b = v128.load(row + (i << 2), 16);
        lo = f32x4.add(lo, f32x4.mul(a, a));
        hi = f32x4.add(hi, f32x4.mul(b, b));
      }
      acc = f32x4.extract_lane(lo, 0);
      acc += f32x4.extract_lane(lo, 1); acc += f32x4.extract_lane(lo, 2); acc += f32x4.extract_lane(lo, 3);
      acc += f32x4.extract_lane(hi, 0); acc += f32x4.extract_lane(hi, 1);
      acc += f32x4.extract_lane(hi, 2); acc += f32x4.extract_lane(hi, 3);
      for (; i < cols; i++) { const v = load<f32>(row + (i << 2)); acc += v * v; }
    }
    store<f32>(out + (r << 2), roundMode(sqrt<f32>(acc), mode));
  }
  return OK;
}

/** multi_row_sum over the K stacked values of column j (sequential with level flushes). */
function columnCascade(ptrs: usize, k: usize, j: usize): f32 {
  const p = levelPower(k);
  const step: usize = (<usize>1) << p;
  const mask = step - 1;
  let l0: f32 = 0, l1: f32 = 0, l2: f32 = 0, l3: f32 = 0;
  let i: usize = 0;
  while (i + step <= k) {
    for (let t: usize = 0; t < step; t++, i++) l0 += load<f32>(<usize>load<u32>(ptrs + (i << 2)) + (j << 2));
    l1 += l0; l0 = 0;
    if ((i & (mask << p)) != 0) continue;
    l2 += l1; l1 = 0;
    if ((i & (mask << (2 * p))) != 0) continue;
    l3 += l2; l2 = 0;
  }
  for (; i < k; i++) l0 += load<f32>(<usize>load<u32>(ptrs + (i << 2)) + (j << 2));
  l0 += l1; l0 += l2; l0 += l3;
  return l0;
}

/** row_sum (ILP 4) over the K stacked values of column j. */
function columnRowSum(ptrs: usize, k: usize, j: usize): f32 {
  const groups = k >> 2;
  const p = levelPower(groups);
  const step: usize = (<usize>1) << p;
  const mask = step - 1;
  let p0: f32 = 0;
  let p1: f32 = 0, p2: f32 = 0, p3: f32 = 0;
  for (let s: usize = 0; s < 4; s++) {
    let l0: f32 = 0, l1: f32 = 0, l2: f32 = 0, l3: f32 = 0;
    let i: usize = 0;
    while (i + step <= groups) {
      for (let t: usize = 0; t < step; t++, i++) l0 += load<f32>(<usize>load<u32>(ptrs + (((i << 2) + s) << 2)) + (j << 2));
      l1 += l0; l0 = 0;
      if ((i & (mask << p)) != 0) continue;
      l2 += l1; l1 = 0;
      if ((i & (mask << (2 * p))) != 0) continue;
      l3 += l2; l2 = 0;
    }
    for (; i < groups; i++) l0 += load<f32>(<usize>load<u32>(ptrs + (((i << 2) + s) << 2)) + (j << 2));
    l0 += l1; l0 += l2; l0 += l3;
    if (s == 0) p0 = l0; else if (s == 1) p1 = l0; else if (s == 2) p2 = l0; else p3 = l0;
  }
  for (let i = groups << 2; i < k; i++) p0 += load<f32>(<usize>load<u32>(ptrs + (i << 2)) + (j << 2));
  p0 += p1; p0 += p2; p0 += p3;
  return p0;
}

/**
 * out[j] = R(torch.stack(xs).sum(0)[j]) for K tensors of n elements (`ptrs`: K u32 pointers).
 * Column order as torch's vectorized_outer_sum (n >= one vector) or scalar_outer_sum.
 */
export function misc_stack_sum(out: usize, ptrs: usize, k: usize, n: usize, mode: i32): i32 {
  const vecNumel: usize = mode == MODE_F32 ? 8 : 16;
  // vectorized_outer_sum: blocks of 4 vectors of 8 columns use multi_row_sum, the rest row_sum;
  // scalar_outer_sum (fewer columns than one vector): blocks of 4 columns, then row_sum.
  const cascadeEnd: usize = n >= vecNumel ? n - n % 32 : n - n % 4;
  for (let j: usize = 0; j < n; j++) {
    const acc = j < cascadeEnd ? columnCascade(ptrs, k, j) : columnRowSum(ptrs, k, j);
    store<f32>(out + (j << 2), roundMode(<f32>0 + acc, mode));
  }
  return OK;
}
