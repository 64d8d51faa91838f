// Seeded model folders for the safety tests: a few models of one unknown architecture (layouts
// inferred from names), large enough that a merge writes many shards over a noticeable time.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { layoutFile } from "../../src/io/safetensors-writer.ts";
import { Rng } from "../../src/fuzz/rng.ts";

export interface FixtureOptions {
  readonly models?: number;
  readonly layers?: number;
  readonly hidden?: number;
}

/** Writes models m0..m{n-1} under `root` and a linear config `merge.yml`; returns the config path. */
export function writeFixture(root: string, o: FixtureOptions = {}): string {
  const models = o.models ?? 3;
  const layers = o.layers ?? 8;
  const hidden = o.hidden ?? 128;
  for (let m = 0; m < models; m++) {
    const rng = new Rng(1000 + m);
    const specs = [{ name: "model.embed_tokens.weight", dtype: "BF16" as const, shape: [4 * hidden, hidden] }, { name: "model.norm.weight", dtype: "BF16" as const, shape: [hidden] }];
    for (let l = 0; l < layers; l++) {
      for (const t of ["self_attn.q_proj", "self_attn.o_proj", "mlp.up_proj", "mlp.down_proj"]) specs.push({ name: `model.layers.${l}.${t}.weight`, dtype: "BF16", shape: [hidden, hidden] });
      specs.push({ name: `model.layers.${l}.input_layernorm.weight`, dtype: "BF16", shape: [hidden] });
    }
    const layout = layoutFile(specs);
    const data = new Uint8Array(layout.totalBytes);
    data.set(layout.header, 0);
    // bf16 values in [-1, 1): sign, exponent 0x3f.., random mantissa
    for (let i = layout.header.length; i < data.length; i += 2) {
      const r = rng.u32();
      data[i] = r & 0xff;
      data[i + 1] = ((r >>> 8) & 0x80) | 0x3e | ((r >>> 16) & 1);
    }
    const dir = join(root, `m${m}`);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "model.safetensors"), data);
    writeFileSync(join(dir, "config.json"), JSON.stringify({ architectures: ["SafetyTestForCausalLM"], model_type: "safety_test", num_hidden_layers: layers, hidden_size: hidden, torch_dtype: "bfloat16" }, null, 2));
  }
  const cfg = join(root, "merge.yml");
  writeFileSync(cfg, `merge_method: linear\nmodels:\n${Array.from({ length: models }, (_, m) => `  - model: m${m}\n    parameters: {weight: ${(m + 1) / 10}}\n`).join("")}dtype: bfloat16\n`);
  return cfg;
}
