// model_stock (MergeKit model_stock.py): interpolate between the base and the fine-tunes' mean
// by t = N cos / (1 + (N - 1) cos), cos the mean pairwise cosine of the task vectors, over the
// whole tensor or per row (`filter_wise`).
import { toDType } from "../../kernels/scalar.ts";
import type { F32Buf } from "../../kernels/kernels.ts";
import { rectifiedShape } from "../shapes.ts";
import { defineMethod } from "../types.ts";
import { baseInput, clamp, lastDimRows, otherInputs, requireOthers } from "./input-rules.ts";

export default defineMethod({
  name: "model_stock",
  cardName: "[Model Stock](https://arxiv.org/abs/2403.19522)",
  base: "required",
  global: [{ name: "filter_wise", default: 0 }],
  perModel: [],
  outputShape(ctx) {
    requireOthers(ctx, "model_stock", 2, undefined);
    return rectifiedShape(ctx);
  },
  merge(ctx) {
    const k = ctx.kernels;
    const { dtype, mode, numel: n } = ctx;
    const r = (x: number) => toDType(x, dtype);
    const w0 = baseInput(ctx);
    const ws = otherInputs(ctx);
    const out = k.allocF32(n);
    if (n === 0) return out;
    const { rows, cols } = ctx.global["filter_wise"] ? lastDimRows(ctx.shape, n) : { rows: 1, cols: n };

    const offsets = ws.map((w) => {
      const off = k.allocF32(n);
      k.call("misc_sub", off.ptr, w.buf.ptr, w0.buf.ptr, n, mode);
      return off;
    });
    const norms = offsets.map((off) => {
      const nb = k.allocF32(rows);
      k.call("misc_row_norm", nb.ptr, off.ptr, rows, cols, mode);
      return k.f32(nb).slice();
    });
    // cos_ij per row = clamp(<off_i, off_j> / clamp(|off_i| |off_j|, min=1e-6), -1, 1)
    const floor = r(1e-6);
    const prod = k.allocF32(n);
    const dot = k.allocF32(rows);
    const cosBufs: F32Buf[] = [];
    for (let i = 0; i < offsets.length; i++) {
      for (let j = i + 1; j < offsets.length; j++) {
        k.call("misc_mul", prod.ptr, offsets[i]!.ptr, offsets[j]!.ptr, n, mode);
        k.call("misc_row_sum", dot.ptr, prod.ptr, rows, cols, mode);
        const d = k.f32(dot);
        const c = new Float32Array(rows);
        for (let row = 0; row < rows; row++) {
          const np = r(norms[i]![row]! * norms[j]![row]!);
          c[row] = clamp(r(d[row]! / (Number.isNaN(np) ? np : Math.max(np, floor))), -1, 1);
        }
        const cb = k.allocF32(rows);
        k.f32(cb).set(c);
        cosBufs.push(cb);
      }
    }
    // mean over the pairs: torch 1.13's bf16/f16 mean is sum (rounded) then divided (rounded)
    const pairs = cosBufs.length;
    const sums = k.allocF32(rows);
    if (ctx.global["filter_wise"]) {
      k.call("misc_stack_sum", sums.ptr, k.u32Array(cosBufs.map((b) => b.ptr)), pairs, rows, mode);
    } else {
      const flat = k.allocF32(pairs);
      k.f32(flat).set(cosBufs.map((b) => k.f32(b)[0]!));
      k.call("misc_row_sum", sums.ptr, flat.ptr, 1, pairs, mode);
    }
    const N = ws.length;
    const t = k.allocF32(rows);
    const tv = k.f32(t);
    const sv = k.f32(sums);
    for (let row = 0; row < rows; row++) {
      const cos = r(sv[row]! / r(pairs));
      tv[row] = r(r(r(N) * cos) / r(1 + r(r(N - 1) * cos)));
    }
    const avg = k.allocF32(n);
    k.call("misc_seq_mean", avg.ptr, k.u32Array(ws.map((w) => w.buf.ptr)), N, n, mode);
    k.call("misc_stock_mix", out.ptr, avg.ptr, w0.buf.ptr, t.ptr, rows, cols, mode);
    return out;
  },
});
