// amalgam moe: MoE models from the fixture experts — tensors, shapes, router rows and config for
// each output architecture, gate modes, expert scaling and noise, and the refusals.
import { cpSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { Tokenizer } from "@huggingface/tokenizers";
import { describe, expect, it } from "vitest";
import { readTensors, values } from "../helpers/safetensors-read.ts";
import { tempDir } from "../helpers/run-merge.ts";
import { roundRef } from "../helpers/reference.ts";
import { cli } from "./helpers/cli.ts";
import { writeSafetensors } from "./helpers/safetensors-write.ts";
import { openModelFiles } from "../../src/io/model-files.ts";
import { layerWeightName, modelStructure, resolveLayout } from "../../src/plan/structure.ts";
import { fsResolver } from "../../runtimes/node/fs-model.ts";

const ROOT = resolve(import.meta.dirname, "..", "..");
const M = "examples/models";
const LAYERS = 4;

async function moe(yaml: string, ...extra: string[]) {
  const dir = tempDir();
  const cfg = join(dir, "moe.yml");
  writeFileSync(cfg, yaml);
  const out = join(dir, "out");
  const r = await cli("moe", cfg, out, ...extra);
  return { ...r, out, tensors: r.code === 0 ? readTensors(out) : new Map(), config: r.code === 0 ? JSON.parse(readFileSync(join(out, "config.json"), "utf8")) as Record<string, unknown> : {} };
}

/** The output reads as `arch` with Amalgam's layout data: every required weight present, nothing left over. */
async function loadsAs(out: string, arch: string): Promise<void> {
  const files = await openModelFiles(await fsResolver("/")(out));
  const s = modelStructure(files, resolveLayout([{ ref: out, config: files.config }], 0, false));
  expect(s.architecture?.architectures[0]).toBe(arch);
  expect(s.unused).toEqual([]);
  const mod = s.modules[0]!;
  const need = [...mod.pre, ...mod.post, ...mod.layers.flatMap((ws, i) => ws.map((w) => ({ ...w, name: layerWeightName(mod, w.name, i) })))].filter((w) => !w.optional);
  for (const w of need) expect(files.tensors.has(w.name), w.name).toBe(true);
  await files.dir.close?.();
}

function same(a: { raw: Uint8Array } | undefined, b: { raw: Uint8Array } | undefined): boolean {
  return a !== undefined && b !== undefined && Buffer.compare(a.raw, b.raw) === 0;
}

/** MergeKit's get_cheap_embedding for one expert, computed here from the tokenizer and the embedding. */
function cheapEmbed(prompts: string[], negative: string[]): number[] {
  const tok = new Tokenizer(JSON.parse(readFileSync(join(ROOT, M, "base", "tokenizer.json"), "utf8")), JSON.parse(readFileSync(join(ROOT, M, "base", "tokenizer_config.json"), "utf8")));
  const embed = values(readTensors(join(ROOT, M, "base")).get("model.embed_tokens.weight")!);
  const one = (ps: string[]) => {
    const total = new Float32Array(64);
    for (const p of ps) {
      const h = new Float32Array(64);
      for (const id of tok.encode(`<s>${p}`, { add_special_tokens: false }).ids) for (let j = 0; j < 64; j++) h[j] = Math.fround(h[j]! + embed[id * 64 + j]!);
      for (let j = 0; j < 64; j++) total[j] = Math.fround(total[j]! + h[j]!);
    }
    return norm(total);
  };
  const norm = (v: Float32Array) => {
    let s = 0;
    for (const x of v) s = Math.fround(s + Math.fround(x * x));
    const n = Math.max(Math.fround(Math.sqrt(s)), 1e-8);
    return v.map((x) => Math.fround(x / n));
  };
  let v = one(prompts);
  if (negative.length) { const n = one(negative); v = v.map((x, i) => Math.fround(x - n[i]!)); }
  return [...norm(v)].map((x) => roundRef(x, 1));
}

const EXPERTS = `experts:
  - source_model: ${M}/ft_dense
    positive_prompts: ["<0x41> <0x42>"]
  - source_model: ${M}/ft_rows
    positive_prompts: ["<0x61> <0x62> <0x63>", "x"]
    negative_prompts: ["<0x41>"]
`;

describe("amalgam moe", () => {
  it("has --help", async () => {
    const r = await cli("moe", "--help");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Usage: amalgam moe CONFIG OUT_DIR/);
    expect(r.stdout).toContain("cheap_embed");
  });

  it("builds a Mixtral from llama experts: tensors, shapes, router rows, config", async () => {
    const r = await moe(`base_model: ${M}/base\ngate_mode: cheap_embed\ndtype: bfloat16\n${EXPERTS}`);
    expect(r.stderr).toBe(`built a Mixtral model with 2 expert(s): 55 tensors (559.2 KB) in ${r.out} in ${/in ([\d.]+) s/.exec(r.stderr)![1]} s\n`);
    const base = readTensors(join(ROOT, M, "base"));
    const dense = readTensors(join(ROOT, M, "ft_dense"));
    const rows = readTensors(join(ROOT, M, "ft_rows"));
    expect([...r.tensors.keys()].some((n) => n.includes(".mlp."))).toBe(false);
    for (let l = 0; l < LAYERS; l++) {
      const p = `model.layers.${l}`;
      expect(r.tensors.get(`${p}.block_sparse_moe.gate.weight`)!.shape).toEqual([2, 64]);
      for (const [w, proj] of [["w1", "gate_proj"], ["w2", "down_proj"], ["w3", "up_proj"]]) {
        expect(same(r.tensors.get(`${p}.block_sparse_moe.experts.0.${w}.weight`), dense.get(`${p}.mlp.${proj}.weight`)), `${l} ${w}`).toBe(true);
        expect(same(r.tensors.get(`${p}.block_sparse_moe.experts.1.${w}.weight`), rows.get(`${p}.mlp.${proj}.weight`)), `${l} ${w}`).toBe(true);
      }
      for (const t of ["self_attn.q_proj.weight", "self_attn.o_proj.weight", "input_layernorm.weight", "post_attention_layernorm.weight"]) {
        expect(same(r.tensors.get(`${p}.${t}`), base.get(`${p}.${t}`)), t).toBe(true);
      }
    }
    for (const t of ["model.embed_tokens.weight", "model.norm.weight", "lm_head.weight"]) expect(same(r.tensors.get(t), base.get(t)), t).toBe(true);
    // router rows: the cheap embeddings of each expert's prompts, the same in every layer
    const gate = values(r.tensors.get("model.layers.2.block_sparse_moe.gate.weight")!);
    expect([...gate.subarray(0, 64)]).toEqual(cheapEmbed(["<0x41> <0x42>"], []));
    expect([...gate.subarray(64)]).toEqual(cheapEmbed(["<0x61> <0x62> <0x63>", "x"], ["<0x41>"]));
    expect(same(r.tensors.get("model.layers.0.block_sparse_moe.gate.weight"), r.tensors.get("model.layers.3.block_sparse_moe.gate.weight"))).toBe(true);
    expect(r.config).toMatchObject({ architectures: ["MixtralForCausalLM"], model_type: "mixtral", num_local_experts: 2, num_experts_per_tok: 2, sliding_window: null, torch_dtype: "bfloat16", num_hidden_layers: 4 });
    expect(readdirSync(r.out).sort()).toEqual(["config.json", "generation_config.json", "mergekit_moe_config.yml", "model.safetensors", "special_tokens_map.json", "tokenizer.json", "tokenizer_config.json"]);
    await loadsAs(r.out, "MixtralForCausalLM");
  });

  it("builds DeepSeek MoE with an ungated shared expert and random gates; residual_scale scales down_proj", async () => {
    const r = await moe(`base_model: ${M}/base\ngate_mode: random\ndtype: float32\nexperts_per_token: 1\nexperts:\n  - source_model: ${M}/ft_dense\n    residual_scale: 0.5\n  - source_model: ${M}/ft_rows\nshared_experts:\n  - source_model: ${M}/ft_sparse\n    residual_scale: 0.1\n`, "--random-seed", "7");
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/built a DeepSeek MoE model with 2 expert\(s\) and 1 shared/);
    const dense = readTensors(join(ROOT, M, "ft_dense"));
    const sparse = readTensors(join(ROOT, M, "ft_sparse"));
    const p = "model.layers.1.mlp";
    expect(r.tensors.get(`${p}.gate.weight`)!.shape).toEqual([2, 64]);
    expect(r.tensors.get(`${p}.experts.1.up_proj.weight`)!.dtype).toBe("F32");
    expect([...values(r.tensors.get(`${p}.experts.0.gate_proj.weight`)!)]).toEqual([...values(dense.get(`${p}.gate_proj.weight`)!)]);
    // scaled in the expert's own dtype (bf16), then cast to the output dtype
    expect([...values(r.tensors.get(`${p}.experts.0.down_proj.weight`)!)]).toEqual([...values(dense.get(`${p}.down_proj.weight`)!)].map((x) => roundRef(x * 0.5, 1)));
    expect([...values(r.tensors.get(`${p}.shared_experts.down_proj.weight`)!)]).toEqual([...values(sparse.get(`${p}.down_proj.weight`)!)].map((x) => roundRef(x * roundRef(0.1, 1), 1)));
    expect(r.config).toMatchObject({ architectures: ["DeepseekForCausalLM"], model_type: "deepseek", n_routed_experts: 2, n_shared_experts: 1, num_experts_per_tok: 1, first_k_dense_replace: 0, moe_intermediate_size: 128, scoring_func: "softmax", torch_dtype: "float32" });
    expect(readFileSync(join(r.out, "config.json"), "utf8")).toMatch(/^\{\n {4}"architectures": \[\n {8}"DeepseekForCausalLM"/);
    // random gates: standard normals from the seeded generator
    const g = [...r.tensors.values()].filter((t) => t.shape.length === 2 && t.shape[0] === 2 && t.shape[1] === 64).flatMap((t) => [...values(t)]);
    const mean = g.reduce((a, b) => a + b, 0) / g.length;
    const v = g.reduce((a, b) => a + (b - mean) ** 2, 0) / g.length;
    expect(Math.abs(mean)).toBeLessThan(0.1);
    expect(Math.abs(v - 1)).toBeLessThan(0.15);
    const again = await moe(`base_model: ${M}/base\ngate_mode: random\ndtype: float32\nexperts:\n  - source_model: ${M}/ft_dense\n  - source_model: ${M}/ft_rows\nshared_experts:\n  - source_model: ${M}/ft_sparse\n`, "--random-seed", "7");
    expect(same(again.tensors.get(`${p}.gate.weight`), r.tensors.get(`${p}.gate.weight`))).toBe(true);
    const other = await moe(`base_model: ${M}/base\ngate_mode: random\ndtype: float32\nexperts:\n  - source_model: ${M}/ft_dense\n  - source_model: ${M}/ft_rows\nshared_experts:\n  - source_model: ${M}/ft_sparse\n`, "--random-seed", "8");
    expect(same(other.tensors.get(`${p}.gate.weight`), r.tensors.get(`${p}.gate.weight`))).toBe(false);
  });

  it("builds Qwen2-MoE with a prompted shared expert: zero attention biases, shared expert gate", async () => {
    const r = await moe(`base_model: ${M}/base\narchitecture: qwen\ngate_mode: cheap_embed\n${EXPERTS}shared_experts:\n  - source_model: ${M}/ft_sparse\n    positive_prompts: ["hello"]\n`);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/built a Qwen MoE model/);
    const p = "model.layers.0";
    expect(r.tensors.get(`${p}.mlp.shared_expert.gate_proj.weight`)!.shape).toEqual([128, 64]);
    expect(r.tensors.get(`${p}.mlp.experts.1.down_proj.weight`)!.shape).toEqual([64, 128]);
    expect(r.tensors.get(`${p}.mlp.gate.weight`)!.shape).toEqual([2, 64]);
    expect([...values(r.tensors.get(`${p}.mlp.shared_expert_gate.weight`)!)]).toEqual(cheapEmbed(["hello"], []));
    expect(r.tensors.get(`${p}.self_attn.q_proj.bias`)!.shape).toEqual([64]);
    expect(r.tensors.get(`${p}.self_attn.k_proj.bias`)!.shape).toEqual([32]);
    expect([...values(r.tensors.get(`${p}.self_attn.v_proj.bias`)!)].every((x) => x === 0)).toBe(true);
    expect(r.config).toMatchObject({ architectures: ["Qwen2MoeForCausalLM"], model_type: "qwen2_moe", num_experts: 2, shared_expert_intermediate_size: 128, moe_intermediate_size: 128, decoder_sparse_step: 1, use_sliding_window: false });
    await loadsAs(r.out, "Qwen2MoeForCausalLM");
  });

  it("builds Qwen3-MoE from qwen3 experts with uniform_random gates", async () => {
    const dir = tempDir();
    for (const m of ["base", "ft_dense", "ft_rows"]) {
      cpSync(join(ROOT, M, m), join(dir, m), { recursive: true });
      const cfg = JSON.parse(readFileSync(join(dir, m, "config.json"), "utf8"));
      writeFileSync(join(dir, m, "config.json"), JSON.stringify({ ...cfg, model_type: "qwen3", architectures: ["Qwen3ForCausalLM"] }));
    }
    // Qwen3 attention has per-head q/k norms: give the base (the attention donor) those tensors.
    const tensors = [...readTensors(join(dir, "base")).entries()].map(([name, t]) => ({ name, dtype: t.dtype as "BF16", shape: t.shape, raw: t.raw.slice() }));
    const ones = new Uint8Array(new Uint16Array(16).fill(0x3f80).buffer);
    for (let l = 0; l < LAYERS; l++) for (const n of ["q_norm", "k_norm"]) tensors.push({ name: `model.layers.${l}.self_attn.${n}.weight`, dtype: "BF16", shape: [16], raw: ones });
    writeSafetensors(join(dir, "base", "model.safetensors"), tensors);
    const r = await moe(`base_model: ${dir}/base\ngate_mode: uniform_random\nexperts:\n  - source_model: ${dir}/ft_dense\n    positive_prompts: [a]\n  - source_model: ${dir}/ft_rows\n    positive_prompts: [b]\n`);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/built a Qwen3 MoE model/);
    expect(r.tensors.get("model.layers.3.mlp.experts.0.up_proj.weight")!.shape).toEqual([128, 64]);
    const gate = values(r.tensors.get("model.layers.3.mlp.gate.weight")!);
    expect(gate.every((x) => Math.abs(x) <= 0.125)).toBe(true);
    expect(new Set(gate).size).toBeGreaterThan(64);
    expect(r.config).toMatchObject({ architectures: ["Qwen3MoeForCausalLM"], model_type: "qwen3_moe", num_experts: 2, moe_intermediate_size: 128 });
    await loadsAs(r.out, "Qwen3MoeForCausalLM");
  });

  it("reproduces MergeKit's Mixtral residual_scale quirk (not applied) and fixes it with --fix-quirks; noise_scale adds seeded noise", async () => {
    const yaml = `base_model: ${M}/base\ngate_mode: random\nexperts:\n  - source_model: ${M}/ft_dense\n    residual_scale: 0.5\n  - source_model: ${M}/ft_rows\n    noise_scale: 0.01\n`;
    const dense = readTensors(join(ROOT, M, "ft_dense"));
    const rows = readTensors(join(ROOT, M, "ft_rows"));
    const q = await moe(yaml);
    expect(q.stderr).toMatch(/residual_scale is not applied to Mixtral experts, as in MergeKit.*--fix-quirks applies it/);
    const w2 = "model.layers.0.block_sparse_moe.experts.0.w2.weight";
    expect(same(q.tensors.get(w2), dense.get("model.layers.0.mlp.down_proj.weight"))).toBe(true);
    const f = await moe(yaml, "--fix-quirks");
    expect([...values(f.tensors.get(w2)!)]).toEqual([...values(dense.get("model.layers.0.mlp.down_proj.weight")!)].map((x) => roundRef(x * 0.5, 1)));
    const noisy = values(q.tensors.get("model.layers.0.block_sparse_moe.experts.1.w1.weight")!);
    const clean = values(rows.get("model.layers.0.mlp.gate_proj.weight")!);
    const d = noisy.map((x, i) => x - clean[i]!);
    const sd = Math.sqrt(d.reduce((a, b) => a + b * b, 0) / d.length);
    expect(sd).toBeGreaterThan(0.007);
    expect(sd).toBeLessThan(0.013);
    expect(same(f.tensors.get("model.layers.0.block_sparse_moe.experts.1.w1.weight"), q.tensors.get("model.layers.0.block_sparse_moe.experts.1.w1.weight"))).toBe(true);
  });

  it("refuses what it cannot build, saying why", async () => {
    const two = (extra = "", gate = "cheap_embed") => `base_model: ${M}/base\ngate_mode: ${gate}\n${EXPERTS}${extra}`;
    const cases: [string, string[], RegExp][] = [
      [two("", "hidden"), [], /E_UNSUPPORTED.*gate_mode "hidden" needs the hidden states of a forward pass.*use gate_mode cheap_embed/],
      [two("architecture: mixtral\nshared_experts:\n  - source_model: examples/models/base\n"), [], /E_CONFIG.*no MoE output architecture fits.*Mixtral: Mixtral does not support shared experts/],
      [two("architecture: gemma\n"), [], /E_CONFIG.*no MoE output architecture matches "gemma"/],
      [`base_model: ${M}/base\ngate_mode: cheap_embed\nexperts:\n  - source_model: ${M}/ft_dense\n    positive_prompts: [a]\n  - source_model: ${M}/ft_dense\n    positive_prompts: [b]\n`, [], /E_CONFIG.*all experts are the same model.*--i-understand-this-is-not-useful-without-training/],
      [`base_model: ${M}/base\ngate_mode: cheap_embed\nexperts:\n  - source_model: ${M}/ft_dense\n    positive_prompts: [a]\n  - source_model: ${M}/ft_rows\n    positive_prompts: [a]\n`, [], /E_CONFIG.*prompts are identical for all experts/],
      [`base_model: ${M}/base\ngate_mode: uniform_random\nexperts:\n  - source_model: ${M}/ft_dense\n  - source_model: ${M}/ft_rows\n`, [], /E_CONFIG.*expert 0 .*has no positive_prompts.*--fix-quirks/],
      [`base_model: ${M}/base\ngate_mode: random\nexperts_per_token: 3\nexperts:\n  - source_model: ${M}/ft_dense\n  - source_model: ${M}/ft_rows\n`, [], /E_CONFIG.*experts_per_token is 3 but there are only 2 experts/],
      [`base_model: ${M}/base\nexperts: []\n`, [], /E_CONFIG.*at least one expert/],
    ];
    for (const [yaml, extra, pattern] of cases) {
      const r = await moe(yaml, ...extra);
      expect(r.code, yaml).toBe(1);
      expect(r.stderr).toMatch(pattern);
    }
    const same2 = await moe(`base_model: ${M}/base\ngate_mode: random\nexperts:\n  - source_model: ${M}/ft_dense\n  - source_model: ${M}/ft_dense\n  - source_model: ${M}/ft_dense\n`, "--i-understand-this-is-not-useful-without-training");
    expect(same2.code).toBe(0);
    expect(same2.stderr).toMatch(/3 experts, which is not a power of two/);
    const u = await moe(`base_model: ${M}/base\ngate_mode: uniform_random\nexperts:\n  - source_model: ${M}/ft_dense\n  - source_model: ${M}/ft_rows\n`, "--fix-quirks");
    expect(u.code).toBe(0);
  });
});
