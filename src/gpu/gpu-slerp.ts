// slerp on the GPU, the steps of src/methods/spherical/slerp.ts with the same float32 results:
// the norms are OpenBLAS sdot's (64 exact FMA chains on the GPU, the fold and the tail on the
// host), the dot of the unit vectors NumPy's pairwise sum (full 8192-element buffers on the GPU,
// the last partial one and the buffer total on the host), the angle and the coefficients on the
// host, and NumPy's float32 a*v0 + b*v1 elementwise on the GPU. Two reads back per tensor.
import { AmalgamError } from "../errors.ts";
import { numpyDot, readRange, sdotFinish, sdotLanes } from "./gpu-dot.ts";
import type { GpuMergeContext, GpuMethod } from "./gpu-method.ts";
import { allocTensor } from "./gpu-tensor.ts";
import type { GpuTensor } from "./gpu-tensor.ts";

/** slerp.ts: above this |dot| slerp interpolates linearly; norms at or below EPS are not divided by. */
const DOT_THRESHOLD = 0.9995;
const EPS = 1e-8;

async function mergeSlerp(ctx: GpuMergeContext): Promise<GpuTensor> {
  const g = ctx.gpu;
  const bi = ctx.baseIndex;
  const t = ctx.global["t"];
  if (bi === undefined || ctx.inputs.length !== 2 || t === undefined) throw new AmalgamError("E_METHOD", `tensor "${ctx.tensor}": slerp needs the base model, exactly one other model and "t"`);
  const v0 = ctx.inputs[bi]!.tensor;
  const v1 = ctx.inputs[1 - bi]!.tensor;
  const n = ctx.numel;
  const n64 = n - (n % 64);
  const lanes = [g.buffer(64 * 4), g.buffer(64 * 4)];
  sdotLanes(g, v0, v0, lanes[0]!);
  sdotLanes(g, v1, v1, lanes[1]!);
  const norms: (number | undefined)[] = [];
  for (const [i, v] of [v0, v1].entries()) {
    const l = new Float32Array((await g.readBack(lanes[i]!, 64 * 4)).buffer);
    const tail = await readRange(g, v, n64, n);
    const norm = Math.fround(Math.sqrt(sdotFinish(l, tail, tail, n)));
    norms.push(norm > EPS ? norm : undefined);
  }
  g.release(...lanes);
  const dot = await numpyDot(g, v0, v1, norms[0], norms[1])();
  let a: number;
  let b: number;
  if (Math.abs(dot) > DOT_THRESHOLD) {
    a = Math.fround(1 - t);
    b = Math.fround(t);
  } else {
    const theta0 = Math.fround(Math.acos(dot));
    const sin0 = Math.fround(Math.sin(theta0));
    const thetaT = theta0 * t;
    a = Math.fround(Math.sin(theta0 - thetaT) / sin0);
    b = Math.fround(Math.sin(thetaT) / sin0);
  }
  const out = allocTensor(g, n);
  out.chunks.forEach((c, i) => g.dispatch("np_axpby", c, { mode: ctx.mode, f: [a, b] }, [v0.chunks[i]!.buf, v1.chunks[i]!.buf, c.buf]));
  return out;
}

export const gpuSlerp: GpuMethod = {
  // not measured: auto keeps slerp on the CPU
  autoMinElements: Infinity,
  declines(ctx) {
    // the CPU reports the configuration errors (and passes a lone input through)
    if (ctx.baseIndex === undefined || ctx.shapes.length !== 2 || ctx.global["t"] === undefined) return "not the base and one other model with t";
    return undefined;
  },
  slots: () => 0,
  merge: (ctx) => mergeSlerp(ctx),
};
