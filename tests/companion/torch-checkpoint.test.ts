// PyTorch .bin input: the zip + pickle reader against committed torch.save fixtures (made by
// tests/fixtures/torch-bin/make_fixtures.py), their safetensors twins, and malicious pickles.
import { copyFileSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { AmalgamError } from "../../src/errors.ts";
import { openModelFiles } from "../../src/io/model-files.ts";
import { readSafetensorsHeader } from "../../src/io/safetensors-header.ts";
import { readPickle } from "../../src/pytorch/pickle-reader.ts";
import { readTorchCheckpoint, TORCH_GLOBALS } from "../../src/pytorch/torch-checkpoint.ts";
import { fsResolver } from "../../runtimes/node/fs-model.ts";
import { readTensors } from "../helpers/safetensors-read.ts";
import { runMerge, tempDir } from "../helpers/run-merge.ts";
import { f16BitsToF32 } from "../helpers/reference.ts";
import { memorySource, pickleBytes, torchZip } from "./helpers/torch-bytes.ts";
import { startRangeServer } from "../helpers/range-server.ts";
import { httpResolver } from "../../src/io/http-model.ts";

const ROOT = resolve(import.meta.dirname, "..", "..");
const FIX = join(ROOT, "tests", "fixtures", "torch-bin");

function fileSource(path: string) {
  return memorySource(new Uint8Array(readFileSync(path)));
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    if (e instanceof AmalgamError) return `${e.code}: ${e.message}`;
    return `not an AmalgamError: ${(e as Error).stack}`;
  }
  return "no error";
}

function u32(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n, true);
  return b;
}
const X = (s: string) => pickleBytes(0x58, u32(new TextEncoder().encode(s).length), s);
const G = (m: string, n: string) => pickleBytes(0x63, `${m}\n${n}\n`);

/** `{"w": tensor(size) over storage "0" of `numel` floats}` as torch.save pickles it. */
function tensorPickle(size: number[], stride: number[], numel: number, offset = 0, storageClass = "FloatStorage"): Uint8Array {
  const tup = (xs: number[]) => pickleBytes(0x28, ...xs.flatMap((x) => [0x4a, u32(x)]), 0x74);
  return pickleBytes(0x80, 2, 0x7d, 0x28, X("w"), G("torch._utils", "_rebuild_tensor_v2"),
    0x28, 0x28, X("storage"), G("torch", storageClass), X("0"), X("cpu"), 0x4a, u32(numel), 0x74, 0x51,
    0x4a, u32(offset), tup(size), tup(stride), 0x89, G("collections", "OrderedDict"), 0x29, 0x52, 0x74, 0x52, 0x75, 0x2e);
}

describe("torch .bin checkpoints", () => {
  it("a torch.save fixture has the same tensors, bytes included, as its safetensors twin", async () => {
    const bin = await readTorchCheckpoint("tiny-base", fileSource(join(FIX, "tiny-base", "pytorch_model.bin")));
    const stPath = join(ROOT, "examples", "models", "base", "model.safetensors");
    const st = await readSafetensorsHeader("base", fileSource(stPath));
    expect([...bin.tensors.keys()].sort()).toEqual([...st.tensors.keys()].sort());
    const binBytes = readFileSync(join(FIX, "tiny-base", "pytorch_model.bin"));
    const stBytes = readFileSync(stPath);
    for (const [name, e] of st.tensors) {
      const b = bin.tensors.get(name)!;
      expect({ dtype: b.dtype, shape: b.shape, byteLength: b.byteLength }).toEqual({ dtype: e.dtype, shape: e.shape, byteLength: e.byteLength });
      expect(Buffer.compare(binBytes.subarray(b.offset, b.offset + b.byteLength), stBytes.subarray(e.offset, e.offset + e.byteLength))).toBe(0);
    }
  });

  it("a model directory with pytorch_model.bin merges to the same bytes as its safetensors twin", async () => {
    const yaml = (base: string) => `merge_method: linear\nmodels:\n  - model: ${base}\n    parameters: {weight: 0.7}\n  - model: examples/models/ft_dense\n    parameters: {weight: 0.3}\ndtype: bfloat16\n`;
    const a = join(tempDir(), "bin");
    const b = join(tempDir(), "st");
    await runMerge(yaml("tests/fixtures/torch-bin/tiny-base"), ROOT, a, { writeModelCard: false });
    await runMerge(yaml("examples/models/base"), ROOT, b, { writeModelCard: false });
    const ta = readTensors(a);
    const tb = readTensors(b);
    expect([...ta.keys()]).toEqual([...tb.keys()]);
    for (const [n, t] of ta) expect(Buffer.compare(t.raw, tb.get(n)!.raw), n).toBe(0);
  });

  it("reads sharded checkpoints through pytorch_model.bin.index.json", async () => {
    const dir = tempDir();
    copyFileSync(join(FIX, "tiny-base", "config.json"), join(dir, "config.json"));
    copyFileSync(join(FIX, "tiny-base", "pytorch_model.bin"), join(dir, "pytorch_model-00001-of-00001.bin"));
    const names = [...(await readTorchCheckpoint("x", fileSource(join(dir, "pytorch_model-00001-of-00001.bin")))).tensors.keys()];
    writeFileSync(join(dir, "pytorch_model.bin.index.json"), JSON.stringify({ metadata: {}, weight_map: Object.fromEntries(names.map((n) => [n, "pytorch_model-00001-of-00001.bin"])) }));
    const files = await openModelFiles(await fsResolver(dir)("."));
    expect(files.tensors.size).toBe(names.length);
    expect(files.tensors.get("model.norm.weight")!.file).toBe("pytorch_model-00001-of-00001.bin");
    await files.dir.close?.();
  });

  it("reads a .bin model over HTTP Range requests, tensors lazily", async () => {
    const server = await startRangeServer(FIX);
    try {
      const dir = await httpResolver()(`${server.url}/tiny-base/`);
      const files = await openModelFiles(dir);
      const before = server.stats.bytes;
      const size = readFileSync(join(FIX, "tiny-base", "pytorch_model.bin")).length;
      expect(before).toBeLessThan(size / 4); // the pickle and headers, not the tensors
      const t = files.tensors.get("model.layers.2.mlp.down_proj.weight")!;
      const got = new Uint8Array(t.byteLength);
      await t.source.readInto(t.offset, got);
      const st = readTensors(join(ROOT, "examples", "models", "base")).get("model.layers.2.mlp.down_proj.weight")!;
      expect(Buffer.compare(got, st.raw)).toBe(0);
    } finally {
      await server.close();
    }
  });

  it("handles storage offsets, shared storages, dtypes, 0-d and empty tensors, and a state_dict wrapper", async () => {
    const bytes = new Uint8Array(readFileSync(join(FIX, "odd.bin")));
    const ck = await readTorchCheckpoint("odd.bin", memorySource(bytes));
    const expected = JSON.parse(readFileSync(join(FIX, "odd.json"), "utf8")) as Record<string, { dtype: string; shape: number[]; values: number[] }>;
    expect([...ck.tensors.keys()].sort()).toEqual(Object.keys(expected).sort());
    for (const [name, want] of Object.entries(expected)) {
      const t = ck.tensors.get(name)!;
      expect({ dtype: t.dtype, shape: t.shape }, name).toEqual({ dtype: want.dtype, shape: want.shape });
      const dv = new DataView(bytes.buffer, t.offset, t.byteLength);
      const got = want.values.map((_, i) => {
        switch (t.dtype) {
          case "F32": return dv.getFloat32(i * 4, true);
          case "F16": return f16BitsToF32(dv.getUint16(i * 2, true));
          case "BF16": return new Float32Array(new Uint32Array([dv.getUint16(i * 2, true) << 16]).buffer)[0]!;
          case "I64": return Number(dv.getBigInt64(i * 8, true));
          case "BOOL": return dv.getUint8(i);
          default: throw new Error(t.dtype);
        }
      });
      expect(got, name).toEqual(want.values);
    }
    expect(ck.tensors.get("f32.tied")!.offset).toBe(ck.tensors.get("f32.whole")!.offset);
    expect(ck.tensors.get("f32.view_offset")!.offset).toBe(ck.tensors.get("f32.whole")!.offset + 40);
  });

  it("refuses non-contiguous tensors instead of misreading them", async () => {
    const msg = await codeOf(readTorchCheckpoint("noncontig.bin", fileSource(join(FIX, "noncontig.bin"))));
    expect(msg).toMatch(/^E_UNSUPPORTED: .*"transposed" is not contiguous/);
  });

  it.each([
    ["evil-os-system.bin", /"posix\.system"/],
    ["evil-eval.bin", /"__builtin__\.eval"/],
    ["evil-object.bin", /"__main__\.Plain"/],
    ["evil-module.bin", /"torch\.nn\.modules\.linear\.Linear"/],
  ])("refuses the malicious pickle %s without running it", async (file, pattern) => {
    const msg = await codeOf(readTorchCheckpoint(file, fileSource(join(FIX, file))));
    expect(msg).toMatch(/^E_PICKLE: /);
    expect(msg).toMatch(pattern);
  });

  it("refuses code-running opcodes and globals in hand-built pickles", () => {
    const cases: [Uint8Array, RegExp][] = [
      [pickleBytes(0x80, 2, G("os", "system"), X("id"), 0x85, 0x52, 0x2e), /"os\.system"/],
      [pickleBytes(0x80, 4, 0x8c, 8, "builtins", 0x8c, 4, "exec", 0x93, 0x2e), /"builtins\.exec"/],
      [pickleBytes(0x80, 2, 0x28, 0x69, "os\nsystem\n", 0x2e), /INST/],
      [pickleBytes(0x80, 2, G("collections", "OrderedDict"), 0x29, 0x81, 0x2e), /NEWOBJ/],
      [pickleBytes(0x80, 2, 0x82, 1, 0x2e), /EXT/],
      [pickleBytes(0x80, 2, X("x"), 0x29, 0x52, 0x2e), /not an allowed global/],
      [pickleBytes(0x80, 2, 0x50, "0\n", 0x2e), /PERSID/],
      [pickleBytes(0x80, 2, G("torch", "FloatStorage"), 0x29, 0x52, 0x2e), /cannot be called/],
      [pickleBytes(0x80, 2, 0x5d, 0x7d, 0x62, 0x2e), /BUILD/],
      [pickleBytes(0x80, 6, 0x4e, 0x2e), /protocol 6/],
      [pickleBytes(0x80, 2, 0x68, 7, 0x2e), /memo entry 7/],
      [pickleBytes(0x80, 2, 0x58, u32(1000), "abc"), /truncated/],
      [pickleBytes(0x80, 2, 0x8a, 9, new Uint8Array(9), 0x2e), /too large/],
      [pickleBytes(0x80, 2, 0x4e), /truncated/],
      [pickleBytes(0x80, 2, 0xff), /unknown pickle opcode 0xff/],
      [pickleBytes(0x80, 2, 0x4e, 0x4e, 0x2e), /left on the stack/],
      [pickleBytes(0x80, 2, 0x74, 0x2e), /no MARK/],
    ];
    for (const [bytes, pattern] of cases) {
      let msg = "no error";
      try {
        readPickle("t.pkl", bytes, { allowed: TORCH_GLOBALS });
      } catch (e) {
        msg = e instanceof AmalgamError ? `${e.code}: ${e.message}` : `not an AmalgamError: ${String(e)}`;
      }
      expect(msg).toMatch(/^E_PICKLE: /);
      expect(msg).toMatch(pattern);
    }
  });

  it("checks tensors against their storages and the container", async () => {
    const floats = new Uint8Array(4 * 6);
    const ok = await readTorchCheckpoint("ok", memorySource(torchZip(tensorPickle([2, 3], [3, 1], 6), { 0: floats })));
    expect(ok.tensors.get("w")).toMatchObject({ dtype: "F32", shape: [2, 3], byteLength: 24 });
    const cases: [Uint8Array, RegExp][] = [
      [torchZip(tensorPickle([2, 3], [3, 1], 6, 1), { 0: floats }), /^E_PICKLE: .*runs past/],
      [torchZip(tensorPickle([2, 3], [3, 1], 6), { 0: floats.subarray(0, 8) }), /^E_ZIP: .*has 8 bytes/],
      [torchZip(tensorPickle([2, 3], [3, 1], 6), {}), /^E_ZIP: .*missing/],
      [torchZip(tensorPickle([2, 3], [1, 2], 6), { 0: floats }), /^E_UNSUPPORTED: .*not contiguous/],
      [torchZip(tensorPickle([2, 3], [3, 1], 6, 0, "LegacyStorage"), { 0: floats }), /^E_PICKLE: .*"torch\.LegacyStorage"/],
      [new Uint8Array([0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19]), /^E_UNSUPPORTED: .*legacy torch\.save format/],
      [new TextEncoder().encode("definitely not a zip archive, just text"), /^E_ZIP: /],
    ];
    for (const [bytes, pattern] of cases) expect(await codeOf(readTorchCheckpoint("t.bin", memorySource(bytes)))).toMatch(pattern);
  });

  it("never fails with anything but an AmalgamError on corrupted checkpoints", async () => {
    const good = new Uint8Array(readFileSync(join(FIX, "odd.bin")));
    let s = 12345;
    const rnd = () => { s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0; return s; };
    for (let trial = 0; trial < 400; trial++) {
      const b = good.slice(0, trial % 7 === 0 ? rnd() % good.length : good.length);
      for (let k = 0; k < 1 + (trial % 4); k++) if (b.length) b[rnd() % b.length] = rnd() & 0xff;
      const msg = await codeOf(readTorchCheckpoint("fuzz.bin", memorySource(b)));
      expect(msg).not.toMatch(/^not an AmalgamError/);
    }
  });

  it("fuzzes the pickle reader on mutated real pickles", () => {
    const pkl = pickleBytes(...tensorPickle([2, 3], [3, 1], 6));
    let s = 99;
    const rnd = () => { s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0; return s; };
    for (let trial = 0; trial < 2000; trial++) {
      const b = pkl.slice();
      for (let k = 0; k < 1 + (trial % 3); k++) b[rnd() % b.length] = rnd() & 0xff;
      try {
        readPickle("fuzz.pkl", b, { allowed: TORCH_GLOBALS, persistentLoad: (pid) => ({ kind: "object", type: "torch.storage", value: pid }) });
      } catch (e) {
        expect(e, `trial ${trial}`).toBeInstanceOf(AmalgamError);
      }
    }
  });
});
