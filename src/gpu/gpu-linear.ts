// linear on the GPU: the same weights, sum order and rounding as src/methods/linear.ts.
import { AmalgamError } from "../errors.ts";
import { toDType } from "../kernels/scalar.ts";
import type { GpuMethod } from "./gpu-method.ts";
import { allocTensor } from "./gpu-tensor.ts";

export const gpuLinear: GpuMethod = {
  // Measured on an H200 (docs/gpu.md): the CPU path streams linear in tiles on every core at the
  // memory's speed, and the GPU path's transfers alone take longer, so auto keeps linear on the CPU.
  autoMinElements: Infinity,
  declines: () => undefined,
  slots: () => 0,
  merge(ctx) {
    const g = ctx.gpu;
    const ws = ctx.inputs.map((inp) => {
      const w = inp.params["weight"];
      if (w === undefined) throw new AmalgamError("E_CONFIG", `tensor "${ctx.tensor}": no "weight" for model ${inp.model}`);
      return toDType(w, ctx.dtype);
    });
    let div = 0;
    for (const w of ws) div = Math.fround(div + w);
    div = toDType(div, ctx.dtype);
    const acc = allocTensor(g, ctx.numel);
    ctx.inputs.forEach((inp, j) => {
      acc.chunks.forEach((c, i) => g.dispatch("wsum_step", c, { mode: ctx.mode, u: [j === 0 ? 1 : 0], f: [ws[j]!] }, [inp.tensor.chunks[i]!.buf, c.buf]));
    });
    const normalize = ctx.global["normalize"] ? 1 : 0;
    for (const c of acc.chunks) g.dispatch("wsum_finish", c, { mode: ctx.mode, u: [normalize], f: [div] }, [c.buf]);
    return acc;
  },
};
