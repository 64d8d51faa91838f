// Sums of rounded products R(x*y) in the order of torch 1.13's CPU `sum` (its cascade sum,
// aten/src/ATen/native/cpu/SumKernel.cpp), accumulated in float32 and rounded once to the dtype.
//
// The building block is torch's multi_row_sum over `size` steps of a few lanes: 4 levels of
// accumulators; level 0 takes `step = 2^max(4, ceil_log2(size) / 4)` steps, then is carried into
// level 1 (and level 1 into 2 ... as long as the step count is a multiple of step^j), the rest
// goes into level 0, and at the end levels 1..3 are added into level 0.
// row_sum(n) groups the n values by 4 (value i in lane i % 4), runs multi_row_sum over the n/4
// groups, adds the n % 4 left-over values to lane 0, then lanes 1, 2, 3 to lane 0.
//
// torch_sum_prod_rows (reduce the contiguous last dim, per row): with n >= 8, vectors of 8 values are
// summed by row_sum over vectors; the n % 8 tail is summed from 0, then the 8 lanes are added to
// it in order. With n < 8, row_sum over the values.
// torch_sum_prod_cols (reduce dim 0, per column): with cols >= 8, columns in blocks of 32 use
// multi_row_sum over the rows, the other columns row_sum over the rows; with cols < 8, blocks
// of 4 columns use multi_row_sum, the rest row_sum.
import { OK } from "./convert";
import { roundMode, roundModex4 } from "./inline/round";

const LEVELS = 4;

function ceilLog2(x: usize): i32 {
  if (x <= 1) return 0;
  return 64 - <i32>clz<u64>(<u64>(x - 1));
}

// @ts-ignore: decorator
@inline function levelPower(size: usize): i32 {
  return max<i32>(4, ceilLog2(size) / LEVELS);
}

// Four lanes of rounded products, x and y at element index i.
// @ts-ignore: decorator
@inline function p4(x: usize, y: usize, i: usize, mode: i32): v128 {
  return roundModex4(f32x4.mul(v128.load(x + (i << 2)), v128.load(y + (i << 2))), mode);
}

// @ts-ignore: decorator
@inline function p1(x: usize, y: usize, i: usize, mode: i32): f32 {
  return roundMode(load<f32>(x + (i << 2)) * load<f32>(y + (i << 2)), mode);
}

// acc + the rounded products of x and y at element index i (four lanes).
// @ts-ignore: decorator
@inline function addP4(acc: v128, x: usize, y: usize, i: usize, mode: i32): v128 {
  return f32x4.add(acc, p4(x, y, i, mode));
}

// ((a + b) + c) + d: the four levels of one partial added into level 0 (or four partials in order).
// @ts-ignore: decorator
@inline function sum4(a: v128, b: v128, c: v128, d: v128): v128 {
  return f32x4.add(f32x4.add(f32x4.add(a, b), c), d);
}

// Every loop below is torch's multi_row_sum: after each `step` steps (i a multiple of step) level 0
// is carried into level 1, after step^2 level 1 into level 2, after step^3 level 2 into level 3;
// steps past the last multiple of step stay in level 0.

// Inner reduction of one contiguous row of n >= 8 values (torch's vectorized_inner_sum).
function innerSum8(x: usize, y: usize, n: usize, mode: i32): f32 {
  const nvec = n >> 3;
  const size = nvec >> 2;
  const lp = levelPower(size);
  const step: usize = (<usize>1) << lp;
  const mask: usize = step - 1;
  // a<level><k><h>: level, partial k (0..3), half h (0 = lanes 0..3, 1 = lanes 4..7)
  let a000 = f32x4.splat(0), a001 = f32x4.splat(0), a010 = f32x4.splat(0), a011 = f32x4.splat(0);
  let a020 = f32x4.splat(0), a021 = f32x4.splat(0), a030 = f32x4.splat(0), a031 = f32x4.splat(0);
  let a100 = f32x4.splat(0), a101 = f32x4.splat(0), a110 = f32x4.splat(0), a111 = f32x4.splat(0);
  let a120 = f32x4.splat(0), a121 = f32x4.splat(0), a130 = f32x4.splat(0), a131 = f32x4.splat(0);
  let a200 = f32x4.splat(0), a201 = f32x4.splat(0), a210 = f32x4.splat(0), a211 = f32x4.splat(0);
  let a220 = f32x4.splat(0), a221 = f32x4.splat(0), a230 = f32x4.splat(0), a231 = f32x4.splat(0);
  let a300 = f32x4.splat(0), a301 = f32x4.splat(0), a310 = f32x4.splat(0), a311 = f32x4.splat(0);
  let a320 = f32x4.splat(0), a321 = f32x4.splat(0), a330 = f32x4.splat(0), a331 = f32x4.splat(0);
  const z = f32x4.splat(0);
  for (let i: usize = 0; i < size; ) {
    const e = i << 5;
    a000 = addP4(a000, x, y, e, mode); a001 = addP4(a001, x, y, e + 4, mode);
    a010 = addP4(a010, x, y, e + 8, mode); a011 = addP4(a011, x, y, e + 12, mode);
    a020 = addP4(a020, x, y, e + 16, mode); a021 = addP4(a021, x, y, e + 20, mode);
    a030 = addP4(a030, x, y, e + 24, mode); a031 = addP4(a031, x, y, e + 28, mode);
    i++;
    if ((i & mask) != 0) continue;
    a100 = f32x4.add(a100, a000); a101 = f32x4.add(a101, a001); a110 = f32x4.add(a110, a010); a111 = f32x4.add(a111, a011);
    a120 = f32x4.add(a120, a020); a121 = f32x4.add(a121, a021); a130 = f32x4.add(a130, a030); a131 = f32x4.add(a131, a031);
    a000 = z; a001 = z; a010 = z; a011 = z; a020 = z; a021 = z; a030 = z; a031 = z;
    if ((i & (mask << lp)) != 0) continue;
    a200 = f32x4.add(a200, a100); a201 = f32x4.add(a201, a101); a210 = f32x4.add(a210, a110); a211 = f32x4.add(a211, a111);
    a220 = f32x4.add(a220, a120); a221 = f32x4.add(a221, a121); a230 = f32x4.add(a230, a130); a231 = f32x4.add(a231, a131);
    a100 = z; a101 = z; a110 = z; a111 = z; a120 = z; a121 = z; a130 = z; a131 = z;
    if ((i & (mask << (2 * lp))) != 0) continue;
    a300 = f32x4.add(a300, a200); a301 = f32x4.add(a301, a201); a310 = f32x4.add(a310, a210); a311 = f32x4.add(a311, a211);
    a320 = f32x4.add(a320, a220); a321 = f32x4.add(a321, a221); a330 = f32x4.add(a330, a230); a331 = f32x4.add(a331, a231);
    a200 = z; a201 = z; a210 = z; a211 = z; a220 = z; a221 = z; a230 = z; a231 = z;
  }
  a000 = sum4(a000, a100, a200, a300); a001 = sum4(a001, a101, a201, a301);
  a010 = sum4(a010, a110, a210, a310); a011 = sum4(a011, a111, a211, a311);
  a020 = sum4(a020, a120, a220, a320); a021 = sum4(a021, a121, a221, a321);
  a030 = sum4(a030, a130, a230, a330); a031 = sum4(a031, a131, a231, a331);
  for (let v = size << 2; v < nvec; v++) {
    const e = v << 3;
    a000 = addP4(a000, x, y, e, mode);
    a001 = addP4(a001, x, y, e + 4, mode);
  }
  a000 = sum4(a000, a010, a020, a030);
  a001 = sum4(a001, a011, a021, a031);
  let acc: f32 = 0;
  for (let k = nvec << 3; k < n; k++) acc += p1(x, y, k, mode);
  acc += f32x4.extract_lane(a000, 0);
  acc += f32x4.extract_lane(a000, 1);
  acc += f32x4.extract_lane(a000, 2);
  acc += f32x4.extract_lane(a000, 3);
  acc += f32x4.extract_lane(a001, 0);
  acc += f32x4.extract_lane(a001, 1);
  acc += f32x4.extract_lane(a001, 2);
  acc += f32x4.extract_lane(a001, 3);
  return acc;
}

// Products of row r for 4 adjacent columns c..c+3 (one = 0), or column c replicated (one = 1).
// @ts-ignore: decorator
@inline function colP(x: usize, y: usize, r: usize, cols: usize, c: usize, one: bool, mode: i32): v128 {
  const e = r * cols + c;
  return one ? f32x4.splat(p1(x, y, e, mode)) : p4(x, y, e, mode);
}

// multi_row_sum with one lane per column, over `rows` steps (lanes = 4 columns, or 1 replicated).
function colMrs(x: usize, y: usize, rows: usize, cols: usize, c: usize, one: bool, mode: i32): v128 {
  const lp = levelPower(rows);
  const step: usize = (<usize>1) << lp;
  const mask: usize = step - 1;
  const z = f32x4.splat(0);
  let a0 = z, a1 = z, a2 = z, a3 = z;
  for (let i: usize = 0; i < rows; ) {
    a0 = f32x4.add(a0, colP(x, y, i, cols, c, one, mode));
    i++;
    if ((i & mask) != 0) continue;
    a1 = f32x4.add(a1, a0); a0 = z;
    if ((i & (mask << lp)) != 0) continue;
    a2 = f32x4.add(a2, a1); a1 = z;
    if ((i & (mask << (2 * lp))) != 0) continue;
    a3 = f32x4.add(a3, a2); a2 = z;
  }
  return sum4(a0, a1, a2, a3);
}

// colMrs for 16 adjacent columns in one sweep over the rows; results stored at out[c..c+15].
function colMrs16(out: usize, x: usize, y: usize, rows: usize, cols: usize, c: usize, mode: i32): void {
  const lp = levelPower(rows);
  const step: usize = (<usize>1) << lp;
  const mask: usize = step - 1;
  const z = f32x4.splat(0);
  // a<level><q>: level, quarter q of the 16 columns
  let a00 = z, a01 = z, a02 = z, a03 = z, a10 = z, a11 = z, a12 = z, a13 = z;
  let a20 = z, a21 = z, a22 = z, a23 = z, a30 = z, a31 = z, a32 = z, a33 = z;
  for (let i: usize = 0; i < rows; ) {
    const e = i * cols + c;
    a00 = addP4(a00, x, y, e, mode); a01 = addP4(a01, x, y, e + 4, mode);
    a02 = addP4(a02, x, y, e + 8, mode); a03 = addP4(a03, x, y, e + 12, mode);
    i++;
    if ((i & mask) != 0) continue;
    a10 = f32x4.add(a10, a00); a11 = f32x4.add(a11, a01); a12 = f32x4.add(a12, a02); a13 = f32x4.add(a13, a03);
    a00 = z; a01 = z; a02 = z; a03 = z;
    if ((i & (mask << lp)) != 0) continue;
    a20 = f32x4.add(a20, a10); a21 = f32x4.add(a21, a11); a22 = f32x4.add(a22, a12); a23 = f32x4.add(a23, a13);
    a10 = z; a11 = z; a12 = z; a13 = z;
    if ((i & (mask << (2 * lp))) != 0) continue;
    a30 = f32x4.add(a30, a20); a31 = f32x4.add(a31, a21); a32 = f32x4.add(a32, a22); a33 = f32x4.add(a33, a23);
    a20 = z; a21 = z; a22 = z; a23 = z;
  }
  const o = out + (c << 2);
  v128.store(o, roundModex4(sum4(a00, a10, a20, a30), mode));
  v128.store(o, roundModex4(sum4(a01, a11, a21, a31), mode), 16);
  v128.store(o, roundModex4(sum4(a02, a12, a22, a32), mode), 32);
  v128.store(o, roundModex4(sum4(a03, a13, a23, a33), mode), 48);
}

// row_sum (values grouped by 4, value i in partial i % 4) with one lane per column.
function colRowSum(x: usize, y: usize, rows: usize, cols: usize, c: usize, one: bool, mode: i32): v128 {
  const size = rows >> 2;
  const lp = levelPower(size);
  const step: usize = (<usize>1) << lp;
  const mask: usize = step - 1;
  const z = f32x4.splat(0);
  // a<level><k>
  let a00 = z, a01 = z, a02 = z, a03 = z, a10 = z, a11 = z, a12 = z, a13 = z;
  let a20 = z, a21 = z, a22 = z, a23 = z, a30 = z, a31 = z, a32 = z, a33 = z;
  for (let i: usize = 0; i < size; ) {
    const r = i << 2;
    a00 = f32x4.add(a00, colP(x, y, r, cols, c, one, mode));
    a01 = f32x4.add(a01, colP(x, y, r + 1, cols, c, one, mode));
    a02 = f32x4.add(a02, colP(x, y, r + 2, cols, c, one, mode));
    a03 = f32x4.add(a03, colP(x, y, r + 3, cols, c, one, mode));
    i++;
    if ((i & mask) != 0) continue;
    a10 = f32x4.add(a10, a00); a11 = f32x4.add(a11, a01); a12 = f32x4.add(a12, a02); a13 = f32x4.add(a13, a03);
    a00 = z; a01 = z; a02 = z; a03 = z;
    if ((i & (mask << lp)) != 0) continue;
    a20 = f32x4.add(a20, a10); a21 = f32x4.add(a21, a11); a22 = f32x4.add(a22, a12); a23 = f32x4.add(a23, a13);
    a10 = z; a11 = z; a12 = z; a13 = z;
    if ((i & (mask << (2 * lp))) != 0) continue;
    a30 = f32x4.add(a30, a20); a31 = f32x4.add(a31, a21); a32 = f32x4.add(a32, a22); a33 = f32x4.add(a33, a23);
    a20 = z; a21 = z; a22 = z; a23 = z;
  }
  a00 = sum4(a00, a10, a20, a30);
  a01 = sum4(a01, a11, a21, a31);
  a02 = sum4(a02, a12, a22, a32);
  a03 = sum4(a03, a13, a23, a33);
  for (let r = size << 2; r < rows; r++) a00 = f32x4.add(a00, colP(x, y, r, cols, c, one, mode));
  return sum4(a00, a01, a02, a03);
}

/**
 * out[r] = R(sum_c R(x[r, c] * y[r * yRowStride + c])) for r < rows; x is rows x cols row-major,
 * yRowStride is cols (row by row) or 0 (the same y for every row).
 */
export function torch_sum_prod_rows(out: usize, x: usize, y: usize, rows: usize, cols: usize, yRowStride: usize, mode: i32): i32 {
  for (let r: usize = 0; r < rows; r++) {
    const xr = x + ((r * cols) << 2);
    const yr = y + ((r * yRowStride) << 2);
    const s: f32 = cols >= 8 ? innerSum8(xr, yr, cols, mode) : f32x4.extract_lane(colRowSum(xr, yr, cols, 1, 0, true, mode), 0);
    store<f32>(out + (r << 2), roundMode(s, mode));
  }
  return OK;
}

/** out[c] = R(sum_r R(x[r, c] * y[r, c])) for c < cols; x and y are rows x cols row-major. */
export function torch_sum_prod_cols(out: usize, x: usize, y: usize, rows: usize, cols: usize, mode: i32): i32 {
  const block: usize = cols >= 8 ? 32 : 4;
  const mrsEnd = cols - cols % block;
  let c: usize = 0;
  for (; c + 16 <= mrsEnd; c += 16) colMrs16(out, x, y, rows, cols, c, mode);
  for (; c < mrsEnd; c += 4) v128.store(out + (c << 2), roundModex4(colMrs(x, y, rows, cols, c, false, mode), mode));
  for (; c + 4 <= cols; c += 4) v128.store(out + (c << 2), roundModex4(colRowSum(x, y, rows, cols, c, false, mode), mode));
  for (; c < cols; c++) store<f32>(out + (c << 2), roundMode(f32x4.extract_lane(colRowSum(x, y, rows, cols, c, true, mode), 0), mode));
  return OK;
}
