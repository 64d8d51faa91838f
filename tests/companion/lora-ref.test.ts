// `model+lora` references: PEFT adapters folded into the weights on the fly, against a plain TS
// reference of PEFT's CPU merge (delta in float32, scaled, cast to the weight dtype, added).
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { readTensors, values } from "../helpers/safetensors-read.ts";
import { runMerge, tempDir } from "../helpers/run-merge.ts";
import { roundRef } from "../helpers/reference.ts";
import type { DType } from "../../src/dtype.ts";
import { cli } from "./helpers/cli.ts";
import { writeSafetensors } from "./helpers/safetensors-write.ts";
import type { RawTensor } from "./helpers/safetensors-write.ts";

const ROOT = resolve(import.meta.dirname, "..", "..");
const BASE = "examples/models/base";

function bf16Raw(values: readonly number[]): Uint8Array {
  const f = new Float32Array(values.map((v) => roundRef(v, 1)));
  const u = new Uint32Array(f.buffer);
  const out = new Uint16Array(values.length);
  for (let i = 0; i < u.length; i++) out[i] = u[i]! >>> 16;
  return new Uint8Array(out.buffer);
}

function seq(n: number, seed: number, scale = 0.05): number[] {
  return Array.from({ length: n }, (_, i) => roundRef(Math.sin(seed + i * 0.7) * scale, 1));
}

function adapter(dir: string, config: Record<string, unknown>, tensors: RawTensor[]): string {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "adapter_config.json"), JSON.stringify({ peft_type: "LORA", ...config }));
  writeSafetensors(join(dir, "adapter_model.safetensors"), tensors);
  return dir;
}

const t = (name: string, shape: number[], vals: number[], dtype: DType = "BF16"): RawTensor => ({ name: `base_model.model.${name}`, dtype, shape, raw: bf16Raw(vals) });

/** PEFT's merge of one weight: W + R(R32(B.A) * scale), every op rounded as torch does on CPU for bf16. */
function reference(w: Float64Array, a: number[], b: number[], rows: number, r: number, cols: number, scale: number, transpose: boolean): number[] {
  const out: number[] = [];
  const ba = new Float32Array(rows * cols);
  for (let i = 0; i < rows; i++) for (let p = 0; p < r; p++) for (let j = 0; j < cols; j++) {
    ba[i * cols + j] = Math.fround(ba[i * cols + j]! + Math.fround(b[i * r + p]! * a[p * cols + j]!));
  }
  const d = transpose ? Float32Array.from({ length: rows * cols }, (_, idx) => ba[(idx % rows) * cols + Math.floor(idx / rows)]!) : ba;
  for (let i = 0; i < w.length; i++) out.push(roundRef(w[i]! + roundRef(Math.fround(d[i]! * Math.fround(scale)), 1), 1));
  return out;
}

async function apply(adapterDir: string): Promise<Map<string, ReturnType<typeof readTensors> extends Map<string, infer V> ? V : never>> {
  const out = join(tempDir(), "merged");
  await runMerge(`merge_method: passthrough\nmodels:\n  - model: ${BASE}+${adapterDir}\n`, ROOT, out);
  return readTensors(out);
}

describe("model+lora references", () => {
  it("fold linear, embedding and saved modules in with PEFT's scaling, rank_pattern and alpha_pattern", async () => {
    const base = readTensors(join(ROOT, BASE));
    const q = "model.layers.1.self_attn.q_proj";
    const k = "model.layers.2.self_attn.k_proj";
    const qa = seq(4 * 64, 1), qb = seq(64 * 4, 2);
    const ka = seq(2 * 64, 3), kb = seq(32 * 2, 4);
    const ea = seq(3 * 256, 5), eb = seq(64 * 3, 6);
    const norm = seq(64, 7, 1);
    const dir = adapter(join(tempDir(), "a"), { r: 4, lora_alpha: 8, rank_pattern: { "layers.2.self_attn.k_proj": 2, embed_tokens: 3 }, alpha_pattern: { k_proj: 1 } }, [
      t(`${q}.lora_A.weight`, [4, 64], qa), t(`${q}.lora_B.weight`, [64, 4], qb),
      t(`${k}.lora_A.weight`, [2, 64], ka), t(`${k}.lora_B.weight`, [32, 2], kb),
      t("model.embed_tokens.lora_embedding_A", [3, 256], ea), t("model.embed_tokens.lora_embedding_B", [64, 3], eb),
      t("model.norm.weight", [64], norm),
    ]);
    const got = await apply(dir);
    expect([...values(got.get(`${q}.weight`)!)]).toEqual(reference(values(base.get(`${q}.weight`)!), qa, qb, 64, 4, 64, 8 / 4, false));
    expect([...values(got.get(`${k}.weight`)!)]).toEqual(reference(values(base.get(`${k}.weight`)!), ka, kb, 32, 2, 64, 1 / 2, false));
    expect([...values(got.get("model.embed_tokens.weight")!)]).toEqual(reference(values(base.get("model.embed_tokens.weight")!), ea, eb, 64, 3, 256, 8 / 3, true));
    expect([...values(got.get("model.norm.weight")!)]).toEqual(norm);
    for (const name of ["model.layers.0.self_attn.q_proj.weight", "lm_head.weight"]) expect(Buffer.compare(got.get(name)!.raw, base.get(name)!.raw)).toBe(0);
  });

  it("uses alpha/sqrt(r) with use_rslora and transposes with fan_in_fan_out", async () => {
    const base = readTensors(join(ROOT, BASE));
    const o = "model.layers.0.self_attn.o_proj";
    const a = seq(4 * 64, 11), b = seq(64 * 4, 12);
    const dir = adapter(join(tempDir(), "rs"), { r: 4, lora_alpha: 6, use_rslora: true, fan_in_fan_out: true }, [t(`${o}.lora_A.weight`, [4, 64], a), t(`${o}.lora_B.weight`, [64, 4], b)]);
    const got = await apply(dir);
    expect([...values(got.get(`${o}.weight`)!)]).toEqual(reference(values(base.get(`${o}.weight`)!), a, b, 64, 4, 64, 6 / 2, true));
  });

  it("an adapter in a real merge: linear of base+lora with ft_dense equals the merge of the folded model", async () => {
    const dir = join(tempDir(), "x");
    const ex = await cli("extract-lora", "--model", "examples/models/ft_rows", "--base-model", BASE, "--out-path", join(dir, "lora"), "--max-rank", "8", "--quiet");
    expect(ex.code).toBe(0);
    await runMerge(`merge_method: passthrough\nmodels:\n  - model: ${BASE}+${join(dir, "lora")}\n`, ROOT, join(dir, "folded"));
    const lin = (m: string) => `merge_method: linear\nmodels:\n  - model: ${m}\n    parameters: {weight: 0.5}\n  - model: examples/models/ft_dense\n    parameters: {weight: 0.5}\ndtype: bfloat16\n`;
    await runMerge(lin(`${BASE}+${join(dir, "lora")}`), ROOT, join(dir, "a"), { writeModelCard: true });
    await runMerge(lin(join(dir, "folded")), ROOT, join(dir, "b"));
    const a = readTensors(join(dir, "a")), b = readTensors(join(dir, "b"));
    for (const [n, x] of a) expect(Buffer.compare(x.raw, b.get(n)!.raw), n).toBe(0);
    expect(readFileSync(join(dir, "a", "README.md"), "utf8")).toContain(`* ${BASE}+${join(dir, "lora")}`);
  });

  it("refuses adapters it cannot apply, naming the problem", async () => {
    const q = "model.layers.1.self_attn.q_proj";
    const ok = [t(`${q}.lora_A.weight`, [4, 64], seq(256, 1)), t(`${q}.lora_B.weight`, [64, 4], seq(256, 2))];
    const cases: [Record<string, unknown>, RawTensor[], RegExp][] = [
      [{ r: 4, lora_alpha: 4, use_dora: true }, ok, /E_UNSUPPORTED.*DoRA/],
      [{ r: 4, lora_alpha: 4, peft_type: "IA3" }, ok, /E_UNSUPPORTED.*peft_type "IA3"/],
      [{ r: 8, lora_alpha: 4 }, ok, /E_SHAPE.*do not fit its rank 8/],
      [{ r: 4, lora_alpha: 4 }, [t("model.layers.1.self_attn.nope.lora_A.weight", [4, 64], seq(256, 1)), t("model.layers.1.self_attn.nope.lora_B.weight", [64, 4], seq(256, 2))], /E_TENSOR_MISSING.*"model\.layers\.1\.self_attn\.nope\.weight"/],
      [{ r: 4, lora_alpha: 4 }, [t(`${q}.lora_A.weight`, [4, 32], seq(128, 1)), t(`${q}.lora_B.weight`, [64, 4], seq(256, 2))], /E_SHAPE.*\[64,32\] delta for the \[64,64\] weight/],
      [{ r: 4, lora_alpha: 4 }, [t(`${q}.lora_A.weight`, [4, 64], seq(256, 1))], /lora_A but not lora_B/],
    ];
    for (const [cfg, tensors, pattern] of cases) {
      const dir = adapter(join(tempDir(), "bad"), cfg, tensors);
      const yml = join(dir, "..", "c.yml");
      writeFileSync(yml, `merge_method: passthrough\nmodels:\n  - model: ${BASE}+${dir}\n`);
      const r = await cli("merge", yml, join(dir, "..", "out"), "--quiet");
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(pattern);
    }
  });
});
