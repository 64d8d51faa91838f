// convert: round trips are byte-identical, values are rounded to nearest even as a plain reference
// rounds them, shards and index are laid out as merge lays them out, and failures leave no output.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { readTensors, values } from "../helpers/safetensors-read.ts";
import { tempDir } from "../helpers/run-merge.ts";
import { testValues } from "../helpers/kernels.ts";
import { f32ToF16Bits } from "../helpers/reference.ts";
import { roundBf16 } from "../../src/kernels/scalar.ts";
import { convertedConfig, filesToCopy, shardGroups } from "../../src/inspect/convert-model.ts";
import { cli } from "./cli-host.ts";
import { derivedModel, EXAMPLES } from "./fixtures.ts";

function files(dir: string): string[] {
  return readdirSync(dir).sort();
}

describe("amalgam convert", () => {
  it("bf16 -> f32 -> bf16 gives the original files byte for byte", async () => {
    const dir = tempDir();
    for (const m of ["base", "ft_dense"]) {
      const src = join(EXAMPLES, m);
      expect((await cli(["convert", src, join(dir, `${m}-f32`), "--dtype", "f32"])).code).toBe(0);
      const f32 = readTensors(join(dir, `${m}-f32`));
      expect([...f32.values()].every((t) => t.dtype === "F32")).toBe(true);
      expect(JSON.parse(readFileSync(join(dir, `${m}-f32`, "config.json"), "utf8")).torch_dtype).toBe("float32");
      expect((await cli(["convert", join(dir, `${m}-f32`), join(dir, `${m}-bf16`), "--dtype", "bf16"])).code).toBe(0);
      expect(files(join(dir, `${m}-bf16`))).toEqual(files(src));
      for (const f of files(src)) expect(readFileSync(join(dir, `${m}-bf16`, f)).equals(readFileSync(join(src, f))), `${m}/${f}`).toBe(true);
    }
  });

  it("a sharded model converted with --out-shard-size 0 is one file with the same tensors", async () => {
    const out = join(tempDir(), "one");
    expect((await cli(["convert", join(EXAMPLES, "ft_sparse"), out, "--dtype", "bf16", "--out-shard-size", "0"])).code).toBe(0);
    expect(existsSync(join(out, "model.safetensors.index.json"))).toBe(false);
    const a = readTensors(join(EXAMPLES, "ft_sparse"));
    const b = readTensors(out);
    expect([...b.keys()].sort()).toEqual([...a.keys()].sort());
    for (const [n, t] of a) expect(Buffer.from(b.get(n)!.raw).equals(Buffer.from(t.raw)), n).toBe(true);
  });

  it("re-shards with an index whose weight_map and total_size match the shards", async () => {
    const out = join(tempDir(), "sharded");
    const r = await cli(["convert", join(EXAMPLES, "base"), out, "--dtype", "f16", "--out-shard-size", "100K", "--json"]);
    expect(r.code).toBe(0);
    const report = r.result<{ shards: { file: string; tensors: number }[]; bytesOut: number }>();
    expect(report.shards.length).toBeGreaterThan(1);
    const index = JSON.parse(readFileSync(join(out, "model.safetensors.index.json"), "utf8"));
    const tensors = readTensors(out);
    expect(index.metadata.total_size).toBe(report.bytesOut);
    expect(Object.keys(index.weight_map).length).toBe(tensors.size);
    for (const [n, t] of tensors) expect(index.weight_map[n]).toBe(t.file);
    for (const s of report.shards) expect(readFileSync(join(out, s.file)).length).toBeLessThanOrEqual(100_000 + 4096);
  });

  it("rounds to nearest even like a plain reference, for f16 and bf16 targets, including specials", async () => {
    // an f32 model whose values include halfway cases, subnormals, infinities, NaN and overflow
    const src = derivedModel("base", (t) => {
      for (const [n, x] of t) {
        const count = x.raw.length / 2;
        const v = testValues(count, n.length);
        t.set(n, { dtype: "F32", shape: x.shape, raw: new Uint8Array(v.buffer) });
      }
    });
    for (const [flag, dtype] of [["f16", "F16"], ["bf16", "BF16"]] as const) {
      const out = join(tempDir(), flag);
      expect((await cli(["convert", src, out, "--dtype", flag])).code).toBe(0);
      const want = readTensors(src);
      for (const [n, t] of readTensors(out)) {
        expect(t.dtype).toBe(dtype);
        const x = values(want.get(n)!);
        const dv = new DataView(t.raw.buffer, t.raw.byteOffset, t.raw.byteLength);
        for (let i = 0; i < x.length; i++) {
          const bits = dv.getUint16(i * 2, true);
          if (Number.isNaN(x[i])) {
            expect(dtype === "F16" ? (bits & 0x7c00) === 0x7c00 && (bits & 0x3ff) !== 0 : (bits & 0x7f80) === 0x7f80 && (bits & 0x7f) !== 0).toBe(true);
            continue;
          }
          const ref = dtype === "F16" ? f32ToF16Bits(x[i]!) : new Uint32Array(new Float32Array([roundBf16(x[i]!)]).buffer)[0]! >>> 16;
          if (bits !== ref) expect(`${n}[${i}] = ${x[i]}: ${bits.toString(16)}`).toBe(ref.toString(16));
        }
      }
    }
  });

  it("refuses tensors that are not floating point and leaves no output behind", async () => {
    const src = derivedModel("base", (t) => t.set("model.rotary.inv_freq", { dtype: "I64", shape: [1], raw: new Uint8Array(8) }));
    const out = join(tempDir(), "refused");
    const r = await cli(["convert", src, out, "--dtype", "f32"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/E_UNSUPPORTED.*model\.rotary\.inv_freq.*I64/);
    expect(existsSync(out)).toBe(false);
  });

  it("argument errors name what was expected", async () => {
    expect((await cli(["convert", join(EXAMPLES, "base"), "/tmp/x"])).stderr).toMatch(/E_ARGS.*--dtype is required/);
    expect((await cli(["convert", join(EXAMPLES, "base"), "/tmp/x", "--dtype", "int8"])).stderr).toMatch(/expected bf16, f16 or f32, got "int8"/);
    expect((await cli(["convert", join(EXAMPLES, "base"), join(EXAMPLES, "base") + "/", "--dtype", "f32"])).stderr).toMatch(/must differ/);
  });

  it("config.json: dtype keys replaced in the text (other values keep their spelling), torch_dtype added when absent", () => {
    expect(convertedConfig('{\n  "rope_theta": 10000.0,\n  "torch_dtype": "bfloat16",\n  "text_config": {"dtype": null}\n}\n', "F16"))
      .toBe('{\n  "rope_theta": 10000.0,\n  "torch_dtype": "float16",\n  "text_config": {"dtype": "float16"}\n}\n');
    expect(JSON.parse(convertedConfig('{"a": 1}', "F32"))).toEqual({ a: 1, torch_dtype: "float32" });
  });

  it("copies everything but weights, the index and config.json; groups shards like the planner", () => {
    expect(filesToCopy(["config.json", "model.safetensors", "model-00001-of-00002.safetensors", "model.safetensors.index.json", "pytorch_model.bin", "tokenizer.json", ".cache", "README.md"]))
      .toEqual(["README.md", "tokenizer.json"]);
    const spec = (name: string, n: number) => ({ name, dtype: "F32" as const, shape: [n] });
    expect(shardGroups([spec("a", 10), spec("b", 10), spec("c", 30)], 80).map((g) => g.map((s) => s.name))).toEqual([["a", "b"], ["c"]]);
    expect(shardGroups([spec("a", 10)], 0).length).toBe(1);
    expect(shardGroups([], 10)).toEqual([[]]);
  });
});
