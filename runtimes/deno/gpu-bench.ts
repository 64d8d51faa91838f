// The GPU benchmark's Deno half (bench/gpu.sh drives it):
//
//   deno run -A runtimes/deno/gpu-bench.ts models DIR [--layers N] [--vocab V]
//     TinyLlama-1.1B-shaped bf16 models (hidden 2048, intermediate 5632, 32/4 heads, vocab 32000;
//     22 layers unless --layers; --vocab for a quick smoke run): DIR/{base,ft_dense,ft_sparse,ft_rows}, plus DIR/linear.yml and
//     DIR/ties.yml. Values are synthetic (integer steps of the bf16 bits), made fast enough to
//     generate on a bare machine; the merge's speed does not depend on them being a real model.
//
//   deno run -A runtimes/deno/gpu-bench.ts kernels [--numel N] [--repeat R]
//     One tensor (default 5632 x 2048) merged with linear and ties by the WASM kernels on one thread
//     and by the GPU path, with the GPU time split into upload+decode, merge, and encode+readback.
//     Checks that both give the same bytes. Prints one table row per method.
//
// Self-contained on purpose (a bare device machine has Deno and nothing else); see docs/gpu.md.
import { closeSync, mkdirSync, openSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { DTYPES } from "../../src/dtype.ts";
import { GPU_METHODS } from "../../src/gpu/gpu-merge.ts";
import { GpuKernels } from "../../src/gpu/gpu-kernels.ts";
import { decodeTensor, encodeTensor, readStored, releaseTensor, uploadStored } from "../../src/gpu/gpu-tensor.ts";
import type { GpuTensor } from "../../src/gpu/gpu-tensor.ts";
import { navigatorGpu } from "../../src/gpu/webgpu-types.ts";
import { Kernels } from "../../src/kernels/kernels.ts";
import { getMethod } from "../../src/methods/registry.ts";
import type { MergeInput, ParamValues } from "../../src/methods/types.ts";
import { loadKernelModule } from "../node/wasm.ts";
import { probeFloat } from "./gpu-probe.ts";

declare const Deno: { args: string[]; exit(code: number): never };

let TINYLLAMA = { hidden: 2048, intermediate: 5632, heads: 32, kvHeads: 4, vocab: 32000, layers: 22 };
const VARIANTS = ["base", "ft_dense", "ft_sparse", "ft_rows"] as const;

function flag(name: string, fallback: number): number {
  const i = Deno.args.indexOf(name);
  return i >= 0 ? Number(Deno.args[i + 1]) : fallback;
}

function tensors(layers: number): [string, number[]][] {
  const a = TINYLLAMA;
  const hd = a.hidden / a.heads;
  const out: [string, number[]][] = [["model.embed_tokens.weight", [a.vocab, a.hidden]]];
  for (let i = 0; i < layers; i++) {
    const p = `model.layers.${i}.`;
    out.push(
      [p + "self_attn.q_proj.weight", [a.heads * hd, a.hidden]], [p + "self_attn.k_proj.weight", [a.kvHeads * hd, a.hidden]],
      [p + "self_attn.v_proj.weight", [a.kvHeads * hd, a.hidden]], [p + "self_attn.o_proj.weight", [a.hidden, a.heads * hd]],
      [p + "mlp.gate_proj.weight", [a.intermediate, a.hidden]], [p + "mlp.up_proj.weight", [a.intermediate, a.hidden]],
      [p + "mlp.down_proj.weight", [a.hidden, a.intermediate]], [p + "input_layernorm.weight", [a.hidden]],
      [p + "post_attention_layernorm.weight", [a.hidden]],
    );
  }
  out.push(["model.norm.weight", [a.hidden]], ["lm_head.weight", [a.vocab, a.hidden]]);
  return out;
}

function xorshift(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => { s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0; return s; };
}

/** bf16 bits of the four variants of one tensor: base ~ ±0.02 (norms ~1), fine-tunes a few bf16 steps away. */
function generate(name: string, shape: number[], out: Record<(typeof VARIANTS)[number], Uint16Array>): void {
  let h = 2166136261;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 16777619) >>> 0;
  const r = xorshift(h);
  const n = out.base.length;
  const cols = shape.length > 1 ? shape[shape.length - 1]! : n;
  const norm = shape.length === 1;
  const { base, ft_dense: dense, ft_sparse: sparse, ft_rows: rows } = out;
  for (let start = 0, row = 0; start < n; start += cols, row++) {
    const hit = row % 3 === 0;
    for (let i = start; i < start + cols; i++) {
      const s = r();
      const b = norm ? 0x3f80 + ((s >>> 8) & 0x7) : ((s & 1) << 15) | ((118 + ((s >>> 1) & 3)) << 7) | ((s >>> 3) & 0x7f);
      base[i] = b;
      dense[i] = b + (((s >>> 10) & 15) - 8);
      sparse[i] = ((s >>> 14) & 15) < 2 ? b + (((s >>> 18) & 31) - 16) : b;
      rows[i] = hit ? b + (((s >>> 23) & 63) - 32) : b + (((s >>> 29) & 3) - 2);
    }
  }
}

function modelConfig(layers: number): string {
  const a = TINYLLAMA;
  return JSON.stringify({
    architectures: ["LlamaForCausalLM"], attention_bias: false, attention_dropout: 0.0, bos_token_id: 1, eos_token_id: 2,
    head_dim: a.hidden / a.heads, hidden_act: "silu", hidden_size: a.hidden, initializer_range: 0.02, intermediate_size: a.intermediate,
    max_position_embeddings: 2048, mlp_bias: false, model_type: "llama", num_attention_heads: a.heads, num_hidden_layers: layers,
    num_key_value_heads: a.kvHeads, pretraining_tp: 1, rms_norm_eps: 1e-5, rope_scaling: null, rope_theta: 10000.0,
    tie_word_embeddings: false, torch_dtype: "bfloat16", transformers_version: "4.46.0", use_cache: true, vocab_size: a.vocab,
  }, null, 2);
}

function models(dir: string, layers: number): void {
  const list = tensors(layers);
  const header: Record<string, unknown> = {};
  let off = 0;
  for (const [name, shape] of list) {
    const bytes = shape.reduce((x, y) => x * y, 1) * 2;
    header[name] = { dtype: "BF16", shape, data_offsets: [off, off + bytes] };
    off += bytes;
  }
  let json = JSON.stringify(header);
  json += " ".repeat((8 - (json.length % 8)) % 8);
  const head = new Uint8Array(8 + json.length);
  new DataView(head.buffer).setBigUint64(0, BigInt(json.length), true);
  head.set(new TextEncoder().encode(json), 8);
  const fds = Object.fromEntries(VARIANTS.map((v) => {
    mkdirSync(join(dir, v), { recursive: true });
    writeFileSync(join(dir, v, "config.json"), modelConfig(layers));
    const fd = openSync(join(dir, v, "model.safetensors"), "w");
    writeSync(fd, head);
    return [v, fd];
  })) as Record<(typeof VARIANTS)[number], number>;
  const t0 = performance.now();
  for (const [name, shape] of list) {
    const n = shape.reduce((x, y) => x * y, 1);
    const out = Object.fromEntries(VARIANTS.map((v) => [v, new Uint16Array(n)])) as Record<(typeof VARIANTS)[number], Uint16Array>;
    generate(name, shape, out);
    for (const v of VARIANTS) {
      const bytes = new Uint8Array(out[v].buffer);
      for (let at = 0; at < bytes.length;) at += writeSync(fds[v], bytes, at, bytes.length - at);
    }
  }
  for (const v of VARIANTS) closeSync(fds[v]);
  const m = (v: string, p: string) => `  - model: ${join(dir, v)}\n    parameters: {${p}}\n`;
  writeFileSync(join(dir, "linear.yml"), `merge_method: linear\nmodels:\n${m("ft_dense", "weight: 0.5")}${m("ft_sparse", "weight: 0.3")}${m("ft_rows", "weight: 0.2")}dtype: bfloat16\n`);
  writeFileSync(join(dir, "della.yml"), `merge_method: della\nbase_model: ${join(dir, "base")}\nmodels:\n${m("ft_dense", "weight: 0.5, density: 0.5, epsilon: 0.1")}${m("ft_sparse", "weight: 0.3, density: 0.7, epsilon: 0.15")}${m("ft_rows", "weight: 0.2, density: 0.4, epsilon: 0.2")}dtype: bfloat16\n`);
  writeFileSync(join(dir, "ties.yml"), `merge_method: ties\nbase_model: ${join(dir, "base")}\nmodels:\n${m("ft_dense", "weight: 0.5, density: 0.5")}${m("ft_sparse", "weight: 0.3, density: 0.7")}${m("ft_rows", "weight: 0.2, density: 0.3")}dtype: bfloat16\n`);
  console.log(`models: ${layers} layers, ${(off / 1e9).toFixed(2)} GB each, written in ${((performance.now() - t0) / 1000).toFixed(1)} s to ${dir}`);
}

// ---- kernels: one tensor, WASM (one thread) vs GPU ----

interface Case { readonly method: string; readonly params: ParamValues[]; readonly global: ParamValues; readonly baseIndex: number | undefined; readonly inputs: readonly number[] }

const CASES: readonly Case[] = [
  { method: "linear", params: [{ weight: 0.5 }, { weight: 0.3 }, { weight: 0.2 }], global: { normalize: 1 }, baseIndex: undefined, inputs: [1, 2, 3] },
  { method: "ties", params: [{}, { weight: 0.5, density: 0.5 }, { weight: 0.3, density: 0.7 }, { weight: 0.2, density: 0.3 }], global: { normalize: 1, lambda: 1 }, baseIndex: 0, inputs: [0, 1, 2, 3] },
  { method: "breadcrumbs_ties", params: [{}, { weight: 0.5, density: 0.8, gamma: 0.05 }, { weight: 0.3, density: 0.9, gamma: 0.02 }, { weight: 0.2, density: 0.7, gamma: 0.01 }], global: { normalize: 0, lambda: 1 }, baseIndex: 0, inputs: [0, 1, 2, 3] },
  { method: "dare_ties", params: [{}, { weight: 0.5, density: 0.5 }, { weight: 0.3, density: 0.7 }, { weight: 0.2, density: 0.3 }], global: { normalize: 0, rescale: 1, lambda: 1 }, baseIndex: 0, inputs: [0, 1, 2, 3] },
  { method: "slerp", params: [{}, {}], global: { t: 0.35 }, baseIndex: 0, inputs: [0, 1] },
  { method: "della", params: [{}, { weight: 0.5, density: 0.5, epsilon: 0.1 }, { weight: 0.3, density: 0.7, epsilon: 0.15 }, { weight: 0.2, density: 0.4, epsilon: 0.2 }], global: { normalize: 1, rescale: 1, lambda: 1 }, baseIndex: 0, inputs: [0, 1, 2, 3] },
];

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function kernels(numel: number, repeat: number): Promise<void> {
  const gpu = navigatorGpu();
  const adapter = gpu ? await GpuKernels.adapter(gpu) : undefined;
  if (!adapter) { console.log("kernels: no WebGPU adapter"); Deno.exit(2); }
  const g = await GpuKernels.open(adapter);
  console.log(`adapter: ${g.adapter.description} (fallback: ${g.adapter.isFallback}); ${JSON.stringify(await probeFloat(g.device))}`);
  const k = await Kernels.instantiate(await loadKernelModule());
  const shape = [numel / TINYLLAMA.hidden, TINYLLAMA.hidden];
  const data = Object.fromEntries(VARIANTS.map((v) => [v, new Uint16Array(numel)])) as Record<(typeof VARIANTS)[number], Uint16Array>;
  generate("bench", shape, data);
  const raw = VARIANTS.map((v) => new Uint8Array(data[v].buffer));
  const mb = (numel * 2) / 1e6;
  console.log(`| method | elements | WASM 1 thread ms | GPU total ms | upload+decode | merge | encode+readback | same bytes |`);
  console.log(`|---|---|---|---|---|---|---|---|`);
  for (const c of CASES) {
    const ins = c.inputs.map((i) => raw[i]!);
    // WASM, one thread: decode, merge, encode (the executor's non-tiled path)
    const wasm: number[] = [];
    let want = new Uint8Array(0);
    for (let r = 0; r < repeat; r++) {
      k.reset();
      const ptrs = ins.map((b) => { const p = k.alloc(b.length); k.bytes(p, b.length).set(b); return p; });
      const t0 = performance.now();
      const inputs: MergeInput[] = ptrs.map((p, i) => {
        const buf = k.allocF32(numel);
        k.call("decode", buf.ptr, p, DTYPES.BF16.code, numel);
        return { buf, shape, params: c.params[i]!, isBase: i === c.baseIndex, model: `m${i}` };
      });
      const out = getMethod(c.method).merge({
        kernels: k, tensor: "bench", shape, numel, dtype: "BF16", mode: DTYPES.BF16.code, inputs, baseIndex: c.baseIndex,
        global: c.global, isEmbed: false, seed: 0, modelIndices: inputs.map((_, i) => i), fixQuirks: false, warn: () => {}, quirk: () => {},
      });
      const dst = k.alloc(numel * 2);
      k.call("encode", dst, out.ptr, DTYPES.BF16.code, numel);
      wasm.push(performance.now() - t0);
      want = k.bytes(dst, numel * 2).slice();
    }
    // GPU: the executor's sequence, timed in three parts (each part waits for the queue)
    const up: number[] = [], mid: number[] = [], down: number[] = [], total: number[] = [];
    let same = true;
    for (let r = 0; r < repeat + 1; r++) {
      g.beginTensor(c.inputs.length);
      const t0 = performance.now();
      const tensorsIn: GpuTensor[] = ins.map((b) => { const s = uploadStored(g, b, "BF16"); const w = decodeTensor(g, s, "BF16", "BF16"); releaseTensor(g, s); return w; });
      g.submit();
      await g.device.queue.onSubmittedWorkDone();
      const t1 = performance.now();
      const res = await GPU_METHODS[c.method]!.merge({
        gpu: g, tensor: "bench", shape, numel, dtype: "BF16", mode: DTYPES.BF16.code,
        inputs: tensorsIn.map((t, i) => ({ tensor: t, params: c.params[i]!, isBase: i === c.baseIndex, model: `m${i}` })),
        baseIndex: c.baseIndex, global: c.global, isEmbed: false, seed: 0, modelIndices: tensorsIn.map((_, i) => i), fixQuirks: false, warn: () => {}, quirk: () => {},
      });
      g.submit();
      await g.device.queue.onSubmittedWorkDone();
      const t2 = performance.now();
      const enc = encodeTensor(g, res, "BF16");
      const got = await readStored(g, enc);
      const t3 = performance.now();
      releaseTensor(g, enc);
      if (!tensorsIn.includes(res)) releaseTensor(g, res);
      for (const t of tensorsIn) releaseTensor(g, t);
      if (got.flags || got.bytes.length !== want.length || got.bytes.some((b, i) => b !== want[i])) same = false;
      if (r === 0) continue; // warm-up: pipelines and buffer pool
      up.push(t1 - t0); mid.push(t2 - t1); down.push(t3 - t2); total.push(t3 - t0);
    }
    const f = (x: number) => x.toFixed(1);
    console.log(`| ${c.method} (${c.inputs.length} x ${mb.toFixed(0)} MB bf16) | ${numel} | ${f(median(wasm))} | ${f(median(total))} | ${f(median(up))} | ${f(median(mid))} | ${f(median(down))} | ${same ? "yes" : "NO"} |`);
    if (!same) Deno.exit(1);
  }
  g.destroy();
}

const cmd = Deno.args[0];
if (cmd === "models") {
  const dir = Deno.args[1];
  if (!dir) { console.error("usage: gpu-bench.ts models DIR [--layers N] [--vocab V]"); Deno.exit(2); }
  TINYLLAMA = { ...TINYLLAMA, vocab: flag("--vocab", TINYLLAMA.vocab) };
  models(dir, flag("--layers", TINYLLAMA.layers));
} else if (cmd === "kernels") {
  await kernels(flag("--numel", TINYLLAMA.intermediate * TINYLLAMA.hidden), flag("--repeat", 3));
} else {
  console.error("usage: gpu-bench.ts models DIR [--layers N] | kernels [--numel N] [--repeat R]");
  Deno.exit(2);
}
