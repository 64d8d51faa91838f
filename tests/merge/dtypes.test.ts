// dtype / out_dtype: every combination of input, working and output dtype, mixed inputs, overflow.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { readTensors } from "../helpers/safetensors-read.ts";
import { expectMatchesReference, makeModels } from "./harness.ts";

const arch = { layers: 2, hidden: 32, intermediate: 48, vocab: 40 };
const NAMES = { bf16: "bfloat16", fp16: "float16", fp32: "float32" } as const;
const DT = ["bf16", "fp16", "fp32"] as const;

describe("dtype and out_dtype", () => {
  for (const input of DT) {
    describe(`${input} inputs`, () => {
      const fx = makeModels({
        a: { variant: "ft_dense", arch, dtype: input },
        b: { variant: "ft_sparse", arch, dtype: input },
        c: { variant: "ft_rows", arch, dtype: input },
      });
      for (const dtype of [undefined, ...DT]) {
        for (const out of [undefined, ...DT]) {
          it(`dtype ${dtype ?? "-"}, out_dtype ${out ?? "-"}`, async () => {
            const head = `${dtype ? `dtype: ${NAMES[dtype]}\n` : ""}${out ? `out_dtype: ${NAMES[out]}\n` : ""}`;
            const { out: dir } = await expectMatchesReference(fx, `${head}merge_method: linear
models:
  - model: a
    parameters: {weight: [0.3, 0.6]}
  - model: b
    parameters: {weight: 0.3}
  - model: c
    parameters: {weight: 0.17}
`);
            const want = { bf16: "BF16", fp16: "F16", fp32: "F32" }[out ?? dtype ?? input];
            for (const t of readTensors(dir).values()) expect(t.dtype).toBe(want);
            const cfg = JSON.parse(readFileSync(join(dir, "config.json"), "utf8")) as Record<string, unknown>;
            expect(cfg["torch_dtype"]).toBe(NAMES[out ?? dtype ?? input]);
            await expectMatchesReference(fx, `${head}merge_method: passthrough
slices:
  - sources:
      - model: a
        layer_range: [0, 1]
        parameters: {scale: 0.7}
  - sources:
      - model: c
        layer_range: [1, 2]
`);
          });
        }
      }
    });
  }

  describe("mixed input dtypes", () => {
    const fx = makeModels({
      b16: { variant: "ft_dense", arch, dtype: "bf16" },
      f16: { variant: "ft_sparse", arch, dtype: "fp16" },
      f32: { variant: "ft_rows", arch, dtype: "fp32" },
      b16b: { variant: "ft_rows", arch, dtype: "bf16" },
    });
    const models = (names: string[]) => names.map((n, i) => `  - model: ${n}\n    parameters: {weight: ${0.2 + 0.15 * i}}\n`).join("");

    for (const names of [["b16", "f16"], ["b16", "f32"], ["f16", "f32"], ["b16", "f16", "f32"]]) {
      it(`${names.join(" + ")} without dtype: torch's promotion (float32)`, async () => {
        const { out } = await expectMatchesReference(fx, `merge_method: linear\nmodels:\n${models(names)}`);
        for (const t of readTensors(out).values()) expect(t.dtype).toBe("F32");
      });
      for (const d of DT) {
        it(`${names.join(" + ")} with dtype ${NAMES[d]}`, async () => {
          await expectMatchesReference(fx, `merge_method: linear\ndtype: ${NAMES[d]}\nmodels:\n${models(names)}`);
        });
      }
    }

    it("same-dtype inputs keep their dtype even if other models of the config differ", async () => {
      await expectMatchesReference(fx, `merge_method: linear\nmodels:\n${models(["b16", "b16b"])}`);
    });

    it("a passthrough frankenmerge of bf16, fp16 and fp32 slices without dtype writes each tensor in its own dtype", async () => {
      const { out } = await expectMatchesReference(fx, `
merge_method: passthrough
slices:
  - sources:
      - model: f32
        layer_range: [0, 1]
  - sources:
      - model: f16
        layer_range: [0, 2]
  - sources:
      - model: b16
        layer_range: [1, 2]
`);
      const dtypes = new Set([...readTensors(out).values()].map((t) => t.dtype));
      expect([...dtypes].sort()).toEqual(["BF16", "F16", "F32"]);
    });
  });

  it("float16: a scale above 65504 rounds to infinity (as torch does) and products overflow", async () => {
    const fx = makeModels({ a: { variant: "ft_dense", arch, dtype: "fp16" } });
    await expectMatchesReference(fx, `
merge_method: passthrough
slices:
  - sources:
      - model: a
        layer_range: [0, 2]
        parameters:
          scale:
            - filter: q_proj
              value: 70000
            - filter: k_proj
              value: 3000000
            - value: 1.0e-7
`);
  });
});
