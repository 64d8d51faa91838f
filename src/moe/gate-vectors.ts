// Router weights of a MoE built from dense experts (moe/router.py, get_gate_params): one row per
// expert per layer, (layers, experts, hidden) in float32.
//   random          standard normals (MergeKit: torch.randn; here the counter-based generator,
//                   Box-Muller over pairs of uniforms, so a seed gives the same gates everywhere)
//   uniform_random  U(-1/sqrt(h), 1/sqrt(h)), nn.Linear's default initialization
//   cheap_embed     the normalized sum of the base model's token embeddings of `bos + prompt` over
//                   an expert's positive prompts, minus the same for its negative prompts,
//                   normalized again; the same row for every layer
//   hidden*         needs a forward pass of the base model: not supported
import { AmalgamError } from "../errors.ts";
import type { Kernels } from "../kernels/kernels.ts";
import { streamKey } from "../random/stream-key.ts";
import type { StreamKey } from "../random/stream-key.ts";
import type { ExpertConfig, GateMode } from "./moe-config.ts";

export interface GateOptions {
  readonly mode: GateMode;
  readonly layers: number;
  readonly hidden: number;
  readonly experts: readonly ExpertConfig[];
  readonly seed: number;
  readonly kernels: Kernels;
  /** cheap_embed: token ids of a prompt (already prefixed with the BOS token). */
  readonly tokenize?: (text: string) => readonly number[];
  /** cheap_embed: the float32 embedding rows of these token ids. */
  readonly embeddingRows?: (ids: readonly number[]) => Promise<ReadonlyMap<number, Float32Array>>;
}

/** n uniforms in [0, 1) of the counter-based stream `key`. */
function uniforms(k: Kernels, key: StreamKey, n: number): Float32Array {
  const mark = k.mark();
  const p = k.alloc(n * 4);
  k.call("rng_uniform", p, key.lo, key.hi, 0, n);
  const out = new Float32Array(k.memory.buffer, p, n).slice();
  k.release(mark);
  return out;
}

/** Standard normals by Box-Muller from the counter-based uniforms (2 per value), as float32. */
export function normals(k: Kernels, key: StreamKey, n: number): Float32Array {
  const u = uniforms(k, key, 2 * n);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.sqrt(-2 * Math.log(1 - u[2 * i]!)) * Math.cos(2 * Math.PI * u[2 * i + 1]!);
  return out;
}

function normalized(v: Float32Array): Float32Array {
  let s = 0;
  for (const x of v) s = Math.fround(s + Math.fround(x * x));
  const n = Math.max(Math.fround(Math.sqrt(s)), 1e-8);
  return v.map((x) => Math.fround(x / n));
}

async function cheapEmbedding(prompts: readonly string[], o: GateOptions): Promise<Float32Array> {
  const ids = prompts.map((p) => o.tokenize!(p));
  const rows = await o.embeddingRows!([...new Set(ids.flat())]);
  const total = new Float32Array(o.hidden);
  for (const seq of ids) {
    const h = new Float32Array(o.hidden);
    for (const id of seq) {
      const r = rows.get(id)!;
      for (let j = 0; j < o.hidden; j++) h[j] = Math.fround(h[j]! + r[j]!);
    }
    for (let j = 0; j < o.hidden; j++) total[j] = Math.fround(total[j]! + h[j]!);
  }
  return normalized(total);
}

/** (layers x experts x hidden) router rows, float32. */
export async function gateVectors(o: GateOptions): Promise<Float32Array> {
  const { layers, hidden } = o;
  const e = o.experts.length;
  const n = layers * e * hidden;
  if (o.mode === "random") return normals(o.kernels, streamKey(o.seed, 0, "moe.gate", "random"), n);
  if (o.mode === "uniform_random") {
    const scale = Math.fround(Math.sqrt(1 / hidden));
    return uniforms(o.kernels, streamKey(o.seed, 0, "moe.gate", "uniform_random"), n).map((u) => Math.fround(Math.fround(Math.fround(u * 2) * scale) - scale));
  }
  if (o.mode !== "cheap_embed") {
    throw new AmalgamError("E_UNSUPPORTED", `gate_mode "${o.mode}" needs the hidden states of a forward pass of the base model, which Amalgam does not run; use gate_mode cheap_embed (token embeddings of the prompts), random or uniform_random`);
  }
  if (!o.tokenize || !o.embeddingRows) throw new AmalgamError("E_MODEL_NOT_FOUND", "gate_mode cheap_embed needs the base model's tokenizer and token embeddings");
  const out = new Float32Array(n);
  for (let x = 0; x < e; x++) {
    const ex = o.experts[x]!;
    let v = await cheapEmbedding(ex.positivePrompts, o);
    if (ex.negativePrompts.length) {
      const neg = await cheapEmbedding(ex.negativePrompts, o);
      v = v.map((a, j) => Math.fround(a - neg[j]!));
    }
    v = normalized(v);
    for (let l = 0; l < layers; l++) out.set(v, (l * e + x) * hidden);
  }
  return out;
}

/** Condition number of a (rows x cols) float32 matrix, rows <= cols: sqrt of the Gram matrix's eigenvalue ratio. */
export function conditionNumber(m: Float32Array, rows: number, cols: number, offset = 0): number {
  const g = new Float64Array(rows * rows);
  for (let i = 0; i < rows; i++) for (let j = 0; j <= i; j++) {
    let s = 0;
    for (let c = 0; c < cols; c++) s += m[offset + i * cols + c]! * m[offset + j * cols + c]!;
    g[i * rows + j] = s;
    g[j * rows + i] = s;
  }
  for (let sweep = 0; sweep < 60; sweep++) {
    let off = 0;
    for (let p = 0; p < rows; p++) for (let q = p + 1; q < rows; q++) off += g[p * rows + q]! ** 2;
    if (off < 1e-30) break;
    for (let p = 0; p < rows; p++) for (let q = p + 1; q < rows; q++) {
      const apq = g[p * rows + q]!;
      if (apq === 0) continue;
      const theta = (g[q * rows + q]! - g[p * rows + p]!) / (2 * apq);
      const t = (theta >= 0 ? 1 : -1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
      const c = 1 / Math.sqrt(t * t + 1);
      const s = t * c;
      for (let k = 0; k < rows; k++) {
        const kp = g[k * rows + p]!, kq = g[k * rows + q]!;
        g[k * rows + p] = c * kp - s * kq;
        g[k * rows + q] = s * kp + c * kq;
      }
      for (let k = 0; k < rows; k++) {
        const pk = g[p * rows + k]!, qk = g[q * rows + k]!;
        g[p * rows + k] = c * pk - s * qk;
        g[q * rows + k] = s * pk + c * qk;
      }
    }
  }
  const ev = Array.from({ length: rows }, (_, i) => Math.max(0, g[i * rows + i]!));
  const lo = Math.min(...ev);
  return lo === 0 ? Infinity : Math.sqrt(Math.max(...ev) / lo);
}

/** warn_degenerate_gates: layers whose router rows are nearly dependent (cond > 5). */
export function degenerateGateWarning(gates: Float32Array, layers: number, experts: number, hidden: number, threshold = 5): string | undefined {
  const bad: number[] = [];
  if (experts > hidden) return undefined;
  for (let l = 0; l < layers; l++) if (conditionNumber(gates, experts, hidden, l * experts * hidden) > threshold) bad.push(l);
  if (!bad.length) return undefined;
  const which = bad.length >= layers ? "ALL layers have" : bad.length === 1 ? `layer ${bad[0]} has` : bad.length === 2 ? `layers ${bad[0]} and ${bad[1]} have` : `layers ${bad.slice(0, -1).join(", ")}, and ${bad[bad.length - 1]} have`;
  return `${which} degenerate routing parameters - your prompts may be too similar; one or more experts will be underutilized`;
}
