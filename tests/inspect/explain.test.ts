// explain agrees with merge: the parameters `explain --json` reports, applied by hand in plain
// TypeScript to the input bytes, give the bytes `merge` writes.
import { readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { readTensors } from "../helpers/safetensors-read.ts";
import type { ReadTensor } from "../helpers/safetensors-read.ts";
import { runMerge, tempDir } from "../helpers/run-merge.ts";
import { f16BitsToF32, f32ToF16Bits } from "../helpers/reference.ts";
import { roundBf16, toDType } from "../../src/kernels/scalar.ts";
import type { DType } from "../../src/dtype.ts";
import type { ExplainReport } from "../../src/inspect/explain.ts";
import { cli } from "./cli-host.ts";
import { ROOT } from "./fixtures.ts";

function decode(t: ReadTensor): Float32Array {
  const dv = new DataView(t.raw.buffer, t.raw.byteOffset, t.raw.byteLength);
  const n = t.raw.byteLength / (t.dtype === "F32" ? 4 : 2);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    if (t.dtype === "F32") out[i] = dv.getFloat32(i * 4, true);
    else if (t.dtype === "BF16") out[i] = new Float32Array(new Uint32Array([dv.getUint16(i * 2, true) << 16]).buffer)[0]!;
    else out[i] = f16BitsToF32(dv.getUint16(i * 2, true));
  }
  return out;
}

function encode(x: Float32Array, dtype: DType): Uint8Array {
  const out = new Uint8Array(x.length * (dtype === "F32" ? 4 : 2));
  const dv = new DataView(out.buffer);
  const u = new Uint32Array(1);
  const f = new Float32Array(u.buffer);
  for (let i = 0; i < x.length; i++) {
    if (dtype === "F32") dv.setFloat32(i * 4, x[i]!, true);
    else if (dtype === "BF16") { f[0] = roundBf16(x[i]!); dv.setUint16(i * 2, u[0]! >>> 16, true); }
    else dv.setUint16(i * 2, f32ToF16Bits(x[i]!), true);
  }
  return out;
}

/** MergeKit's linear merge of one tensor, element by element, from explain's parameters. */
function linearByHand(inputs: readonly Float32Array[], weights: readonly number[], normalize: boolean, working: DType): Float32Array {
  const R = (v: number) => toDType(v, working);
  const ws = weights.map(R);
  let wsum = 0;
  for (const w of ws) wsum = Math.fround(wsum + w);
  const div = R(wsum);
  const out = new Float32Array(inputs[0]!.length);
  for (let i = 0; i < out.length; i++) {
    let acc = 0;
    for (let k = 0; k < inputs.length; k++) acc = Math.fround(acc + R(Math.fround(ws[k]! * R(inputs[k]![i]!))));
    let s = R(acc);
    if (normalize) s = R(Math.fround(s / div));
    out[i] = s;
  }
  return out;
}

async function explainAgreesWithMerge(configPath: string): Promise<ExplainReport> {
  const r = await cli(["explain", configPath, "--json"]);
  expect(r.code, r.stderr).toBe(0);
  const report = r.result<ExplainReport>();
  const out = join(tempDir(), "merged");
  await runMerge(readFileSync(configPath, "utf8"), ROOT, out);
  const merged = readTensors(out);
  const inputs = new Map<string, Map<string, ReadTensor>>();
  const input = (model: string, tensor: string) => {
    if (!inputs.has(model)) inputs.set(model, readTensors(resolve(ROOT, model)));
    return inputs.get(model)!.get(tensor)!;
  };
  expect(report.tensors.length).toBe(merged.size);
  for (const t of report.tensors) {
    const normalize = t.global.find((p) => p.name === "normalize")!.value !== 0;
    const xs = t.sources.map((s) => decode(input(s.model, s.tensor)));
    const ws = t.sources.map((s) => s.params.find((p) => p.name === "weight")!.value!);
    const want = encode(linearByHand(xs, ws, normalize, t.workingDtype as DType), t.outDtype as DType);
    const got = merged.get(t.name)!;
    expect(got.dtype).toBe(t.outDtype);
    expect(Buffer.from(got.raw).equals(Buffer.from(want)), `${configPath}: ${t.name}`).toBe(true);
  }
  return report;
}

describe("explain agrees with merge", () => {
  it("examples/linear-gradient.yml (gradients and filters, f32 working, bf16 output): same bytes by hand", async () => {
    const report = await explainAgreesWithMerge(join(ROOT, "examples", "linear-gradient.yml"));
    // the gradient really varies: layer 1's self_attn weight is 2/3 for ft_dense
    const q1 = report.tensors.find((t) => t.name === "model.layers.1.self_attn.q_proj.weight")!;
    expect(q1.sources[0]!.params[0]!.value).toBeCloseTo(2 / 3, 12);
    expect(q1.sources[0]!.params[0]!.origin).toMatchObject({ kind: "config", filter: "self_attn", gradient: [1, 0.5, 0], path: "models[0].parameters.weight[0]" });
  });

  it("slices with three precedence levels, gradients, filters and normalize: false in bf16: same bytes by hand", async () => {
    const dir = tempDir();
    const cfg = join(dir, "precedence.yml");
    writeFileSync(cfg, `merge_method: linear
slices:
  - sources:
      - model: ${ROOT}/examples/models/ft_dense
        layer_range: [0, 4]
        parameters:
          weight:
            - filter: self_attn
              value: [1.0, 0.25, 0.7]
            - filter: mlp.up
              value: 0.9
      - model: ${ROOT}/examples/models/ft_rows
        layer_range: [0, 4]
        parameters:
          weight: [0.2, 0.8]
      - model: ${ROOT}/examples/models/ft_sparse
        layer_range: [0, 4]
    parameters:
      weight:
        - filter: norm
          value: 0.3
parameters:
  weight: 0.6
  normalize: false
dtype: bfloat16
`);
    const report = await explainAgreesWithMerge(cfg);
    const pick = (tensor: string, model: number) => report.tensors.find((t) => t.name === tensor)!.sources[model]!.params[0]!;
    // source level, filter self_attn, gradient at t = 1/3
    expect(pick("model.layers.1.self_attn.k_proj.weight", 0)).toMatchObject({ value: (1 / 3) * 1.0 + (2 / 3) * 0.25, origin: { kind: "config", filter: "self_attn", path: "slices[0].sources[0].parameters.weight[0]" } });
    // no source-level filter matches: slice level (filter norm), then global
    expect(pick("model.layers.2.input_layernorm.weight", 0)).toMatchObject({ value: 0.3, origin: { filter: "norm", path: "slices[0].parameters.weight[0]" } });
    expect(pick("model.layers.2.mlp.down_proj.weight", 0)).toMatchObject({ value: 0.6, origin: { path: "parameters.weight", filter: null } });
    expect(pick("model.layers.2.mlp.up_proj.weight", 0)).toMatchObject({ value: 0.9, origin: { filter: "mlp.up" } });
    // ft_sparse has no parameters of its own: slice filter, else global
    expect(pick("model.norm.weight", 2).value).toBe(0.3);
    expect(pick("lm_head.weight", 2).value).toBe(0.6);
    const normalize = report.tensors[0]!.global[0]!;
    expect(normalize).toMatchObject({ name: "normalize", value: 0, origin: { kind: "config", path: "parameters.normalize" } });
  });

  it("reports every parameter's origin with the value the plan resolved (all shipped examples)", async () => {
    for (const ex of ["linear.yml", "linear-gradient.yml", "frankenmerge.yml"]) {
      const r = await cli(["explain", join(ROOT, "examples", ex), "--json"]);
      const report = r.result<ExplainReport>();
      for (const t of report.tensors) {
        for (const p of [...t.global, ...t.sources.flatMap((s) => s.params)]) expect(p.origin.value, `${ex} ${t.name} ${p.name}`).toBe(p.value);
      }
    }
  });
});
