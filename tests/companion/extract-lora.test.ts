// amalgam extract-lora: the adapter's layout and config, its error against an exact SVD, and the
// fine-tune reproduced by re-applying it with a `base+adapter` reference.
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { readTensors, values } from "../helpers/safetensors-read.ts";
import type { ReadTensor } from "../helpers/safetensors-read.ts";
import { runMerge, tempDir } from "../helpers/run-merge.ts";
import { roundRef } from "../helpers/reference.ts";
import { cli } from "./helpers/cli.ts";
import { exactSingularValues } from "./helpers/exact-svd.ts";
import { f32Raw, writeSafetensors } from "./helpers/safetensors-write.ts";

const ROOT = resolve(import.meta.dirname, "..", "..");
const M = "examples/models";

async function extract(out: string, ...extra: string[]) {
  const r = await cli("extract-lora", "--model", `${M}/ft_dense`, "--base-model", `${M}/base`, "--out-path", out, ...extra);
  expect(r.stderr).not.toMatch(/error/);
  expect(r.code).toBe(0);
  return { tensors: readTensors(out), config: JSON.parse(readFileSync(join(out, "adapter_config.json"), "utf8")) as Record<string, unknown>, stderr: r.stderr };
}

function mat(t: ReadTensor): Float64Array {
  return values(t);
}

/** ||delta - B.A||_F and the optimal rank-r error for one module. */
function moduleError(adapter: Map<string, ReadTensor>, ft: Map<string, ReadTensor>, base: Map<string, ReadTensor>, module: string) {
  const a = adapter.get(`base_model.model.${module}.lora_A.weight`)!;
  const b = adapter.get(`base_model.model.${module}.lora_B.weight`)!;
  const [r, n] = a.shape as [number, number];
  const m = b.shape[0]!;
  const av = mat(a), bv = mat(b);
  const fv = mat(ft.get(`${module}.weight`)!), wv = mat(base.get(`${module}.weight`)!);
  const delta = Float32Array.from(fv, (x, i) => roundRef(x - wv[i]!, 1));
  let err = 0, norm = 0;
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) {
    let s = 0;
    for (let c = 0; c < r; c++) s += bv[i * r + c]! * av[c * n + j]!;
    err += (s - delta[i * n + j]!) ** 2;
    norm += delta[i * n + j]! ** 2;
  }
  const sv = exactSingularValues(delta, m, n);
  const optimal = Math.sqrt(Math.max(0, sv.slice(r).reduce((x, y) => x + y * y, 0)));
  return { err: Math.sqrt(err), optimal, norm: Math.sqrt(norm), rank: r };
}

describe("amalgam extract-lora", () => {
  it("has --help", async () => {
    const r = await cli("extract-lora", "--help");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Usage: amalgam extract-lora --model M --base-model B --out-path DIR/);
    for (const f of ["--max-rank", "--sv-epsilon", "--save-module", "--include-regex", "--exclude-regex", "--[no-]embed-lora", "--[no-]distribute-scale"]) expect(r.stdout).toContain(f);
  });

  it("writes the PEFT layout: factors, full-rank modules, config with rank_pattern, card", async () => {
    const out = join(tempDir(), "adapter");
    const { tensors, config } = await extract(out, "--max-rank", "100");
    expect(readdirSync(out).sort()).toEqual(["README.md", "adapter_config.json", "adapter_model.safetensors"]);
    expect(tensors.get("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight")!.shape).toEqual([64, 64]);
    expect(tensors.get("base_model.model.model.layers.0.self_attn.k_proj.lora_B.weight")!.shape).toEqual([32, 32]);
    expect(tensors.get("base_model.model.model.layers.3.mlp.down_proj.lora_A.weight")!.shape).toEqual([64, 128]);
    expect(tensors.get("base_model.model.model.embed_tokens.weight")!.shape).toEqual([256, 64]);
    expect(tensors.get("base_model.model.model.norm.weight")!.dtype).toBe("BF16");
    expect(Buffer.compare(tensors.get("base_model.model.lm_head.weight")!.raw, readTensors(`${M}/ft_dense`).get("lm_head.weight")!.raw)).toBe(0);
    expect(config["r"]).toBe(64);
    expect(config["lora_alpha"]).toBe(64);
    expect(config["modules_to_save"]).toEqual(["embed_tokens", "input_layernorm", "post_attention_layernorm", "norm", "lm_head"]);
    expect(config["target_modules"]).toEqual(["down_proj", "gate_proj", "k_proj", "o_proj", "q_proj", "up_proj", "v_proj"]);
    expect(Object.keys(config["rank_pattern"] as object).length).toBe(8);
    expect((config["rank_pattern"] as Record<string, number>)["model.layers.2.self_attn.v_proj"]).toBe(32);
    expect(config["alpha_pattern"]).toEqual(config["rank_pattern"]);
    const text = readFileSync(join(out, "adapter_config.json"), "utf8");
    expect(text).toMatch(/^\{\n {4}"base_model_name_or_path": "examples\/models\/base",\n/);
    expect(text).toContain(`"lora_dropout": 0.0,`);
    const card = readFileSync(join(out, "README.md"), "utf8");
    expect(card).toMatch(/^---\nbase_model: \[\]\nlibrary_name: peft\ntags:\n- mergekit\n- peft\n\n---\n# adapter\n/);
    expect(card).toContain("extracted from examples/models/ft_dense and uses examples/models/base as a base.");
    expect(card).toContain("amalgam extract-lora --model examples/models/ft_dense");
  });

  it("at rank r is as close to the delta as the exact rank-r SVD (Eckart-Young), up to bf16 rounding", async () => {
    const ft = readTensors(`${M}/ft_dense`);
    const base = readTensors(`${M}/base`);
    for (const [rank, q] of [["4", "2"], ["12", "1"]] as const) {
      const out = join(tempDir(), `r${rank}`);
      const { tensors } = await extract(out, "--max-rank", rank, "--power-iterations", q);
      for (const module of ["model.layers.0.self_attn.q_proj", "model.layers.1.mlp.down_proj", "model.layers.3.self_attn.k_proj"]) {
        const e = moduleError(tensors, ft, base, module);
        expect(e.rank).toBe(Number(rank));
        expect(e.err, `${module} at rank ${rank}`).toBeLessThanOrEqual(1.02 * e.optimal + 0.01 * e.norm);
      }
    }
  });

  it("re-applied to the base (a base+adapter reference) reproduces the fine-tune at full rank", async () => {
    const dir = tempDir();
    await extract(join(dir, "lora"), "--max-rank", "64");
    await runMerge(`merge_method: passthrough\nmodels:\n  - model: ${M}/base+${join(dir, "lora")}\n`, ROOT, join(dir, "merged"));
    const got = readTensors(join(dir, "merged"));
    const ft = readTensors(`${M}/ft_dense`);
    const base = readTensors(`${M}/base`);
    expect([...got.keys()].sort()).toEqual([...ft.keys()].sort());
    for (const [name, t] of ft) {
      const g = values(got.get(name)!), f = values(t), w = values(base.get(name)!);
      let worst = 0, scale = 0;
      for (let i = 0; i < f.length; i++) { worst = Math.max(worst, Math.abs(g[i]! - f[i]!)); scale = Math.max(scale, Math.abs(f[i]! - w[i]!)); }
      // factors and sum rounded to bf16: within a few bf16 steps of the largest change
      expect(worst, name).toBeLessThanOrEqual(scale * 2 ** -5 + 1e-6);
    }
  });

  it("--sv-epsilon cuts ranks, --embed-lora decomposes embeddings, regexes select modules", async () => {
    // epsilon at the median singular value of one module's delta: about half its rank survives
    const ft = readTensors(`${M}/ft_dense`), base = readTensors(`${M}/base`);
    const q = "model.layers.0.self_attn.q_proj.weight";
    const bq = values(base.get(q)!);
    const delta = Float32Array.from(values(ft.get(q)!), (x, i) => roundRef(x - bq[i]!, 1));
    const sv = exactSingularValues(delta, 64, 64);
    const epsilon = (sv[31]! + sv[32]!) / 2;
    const eps = await extract(join(tempDir(), "eps"), "--sv-epsilon", String(epsilon), "--max-rank", "64");
    const rp = eps.config["rank_pattern"] as Record<string, number>;
    expect(Object.keys(rp).length).toBeGreaterThan(0);
    const sa = eps.tensors.get("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight")!;
    expect(sa.shape[0]).toBe(32);
    expect(sa.shape[0]).toBe(rp["model.layers.0.self_attn.q_proj"] ?? eps.config["r"]);

    const emb = await extract(join(tempDir(), "emb"), "--embed-lora", "--max-rank", "8");
    expect(emb.tensors.get("base_model.model.model.embed_tokens.lora_embedding_A")!.shape).toEqual([8, 256]);
    expect(emb.tensors.get("base_model.model.model.embed_tokens.lora_embedding_B")!.shape).toEqual([64, 8]);
    expect(emb.tensors.get("base_model.model.lm_head.lora_A.weight")!.shape).toEqual([8, 64]);
    expect(emb.config["modules_to_save"]).toEqual(["input_layernorm", "post_attention_layernorm", "norm"]);

    const sel = await extract(join(tempDir(), "sel"), "-i", "self_attn", "-e", "layers\\.3\\.", "--max-rank", "4", "--save-module", "o_proj", "--skip-undecomposable");
    const names = [...sel.tensors.keys()];
    expect(names.some((n) => n.includes("mlp"))).toBe(false);
    // --save-module wins over the regexes, as in MergeKit; nothing else of layer 3 is kept
    expect(names.filter((n) => n.includes("layers.3."))).toEqual(["base_model.model.model.layers.3.self_attn.o_proj.weight"]);
    expect(names).toContain("base_model.model.model.layers.0.self_attn.o_proj.weight");
    expect(names).toContain("base_model.model.model.layers.1.self_attn.q_proj.lora_A.weight");
    expect(names.some((n) => n.includes("layernorm"))).toBe(false);
    expect(sel.config["modules_to_save"]).toEqual(["o_proj", "embed_tokens", "lm_head"]);
  });

  it("decomposes a .bin base and turns biases into lora_B.bias, which re-apply", async () => {
    const dir = tempDir();
    const cfg = JSON.stringify({ architectures: ["TinyProjModel"], model_type: "tiny_proj", num_hidden_layers: 1 });
    const make = (name: string, w: number[], b: number[]) => {
      mkdirSync(join(dir, name));
      writeFileSync(join(dir, name, "config.json"), cfg);
      writeSafetensors(join(dir, name, "model.safetensors"), [
        { name: "model.layers.0.proj.weight", dtype: "F32", shape: [3, 4], raw: f32Raw(w) },
        { name: "model.layers.0.proj.bias", dtype: "F32", shape: [3], raw: f32Raw(b) },
      ]);
    };
    make("base", Array.from({ length: 12 }, (_, i) => i / 10), [1, 2, 3]);
    make("ft", Array.from({ length: 12 }, (_, i) => i / 10 + (i % 4 === 0 ? 0.5 : 0)), [1.25, 2, 2.5]);
    const r = await cli("extract-lora", "--model", join(dir, "ft"), "--base-model", join(dir, "base"), "--out-path", join(dir, "lora"), "--quiet");
    expect(r.stderr).toBe("");
    const t = readTensors(join(dir, "lora"));
    expect([...values(t.get("base_model.model.model.layers.0.proj.lora_B.bias")!)]).toEqual([0.25, 0, -0.5]);
    expect(t.get("base_model.model.model.layers.0.proj.lora_A.weight")!.shape).toEqual([3, 4]);
    await runMerge(`merge_method: passthrough\nmodels:\n  - model: ${join(dir, "base")}+${join(dir, "lora")}\n`, ROOT, join(dir, "back"));
    const back = readTensors(join(dir, "back"));
    const ft = readTensors(join(dir, "ft"));
    expect([...values(back.get("model.layers.0.proj.bias")!)]).toEqual([...values(ft.get("model.layers.0.proj.bias")!)]);
    const bw = values(back.get("model.layers.0.proj.weight")!), fw = values(ft.get("model.layers.0.proj.weight")!);
    for (let i = 0; i < 12; i++) expect(Math.abs(bw[i]! - fw[i]!)).toBeLessThan(1e-5);

    // the torch .bin twin of the base works as --base-model
    const bin = await cli("extract-lora", "--model", `${M}/ft_rows`, "--base-model", "tests/fixtures/torch-bin/tiny-base", "--out-path", join(dir, "fromBin"), "--max-rank", "2", "--quiet");
    expect(bin.code).toBe(0);
    const st = await cli("extract-lora", "--model", `${M}/ft_rows`, "--base-model", `${M}/base`, "--out-path", join(dir, "fromSt"), "--max-rank", "2", "--quiet");
    expect(st.code).toBe(0);
    const a = readTensors(join(dir, "fromBin")), b = readTensors(join(dir, "fromSt"));
    for (const [n, x] of a) expect(Buffer.compare(x.raw, b.get(n)!.raw), n).toBe(0);
  });

  it("refuses missing options and bad regexes, and leaves no output behind", async () => {
    const dir = tempDir();
    expect((await cli("extract-lora", "--model", `${M}/ft_dense`, "--out-path", join(dir, "x"))).stderr).toMatch(/E_ARGS.*--base-model is required/);
    const bad = await cli("extract-lora", "--model", `${M}/ft_dense`, "--base-model", `${M}/base`, "--out-path", join(dir, "y"), "-e", "(");
    expect(bad.stderr).toMatch(/E_ARGS.*--exclude-regex: "\(" is not a valid regular expression/);
    expect(existsSync(join(dir, "y"))).toBe(false);
  });
});
