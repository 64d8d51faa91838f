// Malformed safetensors headers: every one is E_SAFETENSORS naming the file (and the tensor).
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { AmalgamError } from "../../src/errors.ts";
import { MAX_HEADER_BYTES, readSafetensorsHeader } from "../../src/io/safetensors-header.ts";
import type { ByteSource } from "../../src/io/storage.ts";
import { openModelFiles } from "../../src/io/model-files.ts";
import { FsModelDirectory } from "../../runtimes/node/fs-model.ts";
import { tempDir } from "../helpers/run-merge.ts";

function memorySource(bytes: Uint8Array): ByteSource {
  return {
    size: bytes.length,
    async readInto(offset, dest) {
      if (offset + dest.length > bytes.length) throw new Error("read past the end");
      dest.set(bytes.subarray(offset, offset + dest.length));
    },
  };
}

/** A file: 8-byte little-endian header length, the header text, then `data` bytes. */
function file(header: string | object, data = 0, lengthOverride?: bigint): Uint8Array {
  const h = new TextEncoder().encode(typeof header === "string" ? header : JSON.stringify(header));
  const out = new Uint8Array(8 + h.length + data);
  new DataView(out.buffer).setBigUint64(0, lengthOverride ?? BigInt(h.length), true);
  out.set(h, 8);
  return out;
}

async function headerError(bytes: Uint8Array): Promise<AmalgamError> {
  try {
    await readSafetensorsHeader("m/model.safetensors", memorySource(bytes));
  } catch (e) {
    expect(e).toBeInstanceOf(AmalgamError);
    expect((e as AmalgamError).code).toBe("E_SAFETENSORS");
    return e as AmalgamError;
  }
  throw new Error("expected an error");
}

const T = (dtype: string, shape: unknown, offs: unknown) => ({ dtype, shape, data_offsets: offs });

describe("safetensors header validation", () => {
  it("accepts a valid header and reports absolute offsets", async () => {
    const h = await readSafetensorsHeader("f", memorySource(file({ __metadata__: { format: "pt" }, a: T("BF16", [2, 3], [0, 12]), b: T("F32", [], [12, 16]) }, 16)));
    expect(h.metadata).toEqual({ format: "pt" });
    expect(h.tensors.get("a")).toMatchObject({ dtype: "BF16", shape: [2, 3], byteLength: 12 });
    expect(h.tensors.get("b")!.offset).toBe(h.dataStart + 12);
  });

  const CASES: { what: string; bytes: () => Uint8Array; message: string | RegExp }[] = [
    { what: "a file shorter than the length prefix", bytes: () => new Uint8Array(5), message: "m/model.safetensors: file is 5 bytes, too short for a safetensors header" },
    { what: "an absurd header length (2^60)", bytes: () => file("{}", 0, 1n << 60n), message: `m/model.safetensors: header length ${2 ** 60} exceeds the limit of ${MAX_HEADER_BYTES} bytes` },
    { what: "a header length past the end of the file", bytes: () => file("{}", 0, 1000n), message: "m/model.safetensors: header length 1000 runs past the end of the 10-byte file" },
    { what: "header JSON that is cut short", bytes: () => file('{"a":{"dtype":"F32"', 4), message: /^m\/model\.safetensors: header is not valid UTF-8 JSON/ },
    { what: "header bytes that are not UTF-8", bytes: () => { const f = file('{"a":1}'); f[10] = 0xff; return f; }, message: /^m\/model\.safetensors: header is not valid UTF-8 JSON/ },
    { what: "a header that is a list", bytes: () => file("[1, 2]"), message: "m/model.safetensors: header is not a JSON object" },
    { what: "a tensor entry that is a number", bytes: () => file({ w: 3 }), message: 'm/model.safetensors: tensor "w": entry is not an object' },
    { what: "an unknown dtype", bytes: () => file({ w: T("F128", [1], [0, 16]) }, 16), message: 'm/model.safetensors: tensor "w": unknown dtype "F128"' },
    { what: "a shape that is not a list", bytes: () => file({ w: T("F32", 4, [0, 16]) }, 16), message: 'm/model.safetensors: tensor "w": shape is not an array' },
    { what: "a negative dimension", bytes: () => file({ w: T("F32", [2, -2], [0, 16]) }, 16), message: 'm/model.safetensors: tensor "w": bad dimension -2 in shape' },
    { what: "a fractional dimension", bytes: () => file({ w: T("F32", [1.5], [0, 6]) }, 16), message: 'm/model.safetensors: tensor "w": bad dimension 1.5 in shape' },
    { what: "an absurd rank", bytes: () => file({ w: T("F32", [1, 1, 1, 1, 1, 1, 1, 1, 1], [0, 4]) }, 4), message: 'm/model.safetensors: tensor "w": rank 9 exceeds the limit of 8' },
    { what: "an element count beyond 2^53", bytes: () => file({ w: T("U8", [2 ** 30, 2 ** 30, 2 ** 30], [0, 8]) }, 8), message: /^m\/model\.safetensors: tensor "w": shape \[1073741824,1073741824,1073741824\] has too many elements$/ },
    { what: "data_offsets with one number", bytes: () => file({ w: T("F32", [1], [4]) }, 4), message: 'm/model.safetensors: tensor "w": data_offsets must be two non-negative integers' },
    { what: "negative data_offsets", bytes: () => file({ w: T("F32", [1], [-4, 0]) }, 4), message: 'm/model.safetensors: tensor "w": data_offsets must be two non-negative integers' },
    { what: "data_offsets that end before they begin", bytes: () => file({ w: T("F32", [1], [8, 4]) }, 8), message: 'm/model.safetensors: tensor "w": data_offsets [8, 4] end before they begin' },
    { what: "data_offsets out of range (the data is cut short)", bytes: () => file({ w: T("F32", [4], [0, 16]) }, 12), message: 'm/model.safetensors: tensor "w": data_offsets [0, 16] run past the 12 data bytes of the file' },
    { what: "a byte length that does not match the shape", bytes: () => file({ w: T("BF16", [3, 3], [0, 20]) }, 20), message: 'm/model.safetensors: tensor "w": 20 data bytes, but BF16[3,3] needs 18' },
    { what: "overlapping tensors", bytes: () => file({ a: T("F32", [4], [0, 16]), b: T("F32", [2], [12, 20]) }, 20), message: 'm/model.safetensors: tensors "a" and "b" overlap in the data section' },
    { what: "an unexpected key in a tensor entry", bytes: () => file({ w: { ...T("F32", [1], [0, 4]), extra: 1 } }, 4), message: 'm/model.safetensors: tensor "w": unexpected key "extra"' },
    { what: "__metadata__ that is not an object", bytes: () => file({ __metadata__: "pt" }), message: "m/model.safetensors: __metadata__ is not an object" },
    { what: "a __metadata__ value that is not a string", bytes: () => file({ __metadata__: { format: 1 } }), message: "m/model.safetensors: __metadata__.format is not a string" },
  ];
  for (const c of CASES) {
    it(c.what, async () => {
      const e = await headerError(c.bytes());
      if (typeof c.message === "string") expect(e.message).toBe(c.message);
      else expect(e.message).toMatch(c.message);
    });
  }

  it("zero-size tensors may share an offset (they do not overlap)", async () => {
    const h = await readSafetensorsHeader("f", memorySource(file({ a: T("F32", [0], [0, 0]), b: T("F32", [1], [0, 4]) }, 4)));
    expect(h.tensors.size).toBe(2);
  });

  it("errors reach the user through a model directory, naming the model and shard", async () => {
    const dir = tempDir();
    writeFileSync(join(dir, "config.json"), "{}");
    writeFileSync(join(dir, "model.safetensors"), file({ w: T("F32", [4], [0, 16]) }, 12));
    await expect(openModelFiles(new FsModelDirectory("my-model", dir))).rejects.toThrow('my-model/model.safetensors: tensor "w": data_offsets [0, 16] run past the 12 data bytes of the file');
  });
});
