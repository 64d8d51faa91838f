// Parsers of untrusted files: each named limit and check, with the typed error it gives. Inputs
// here are the fuzzers' past findings and the classic attacks (nesting bombs, billion laughs,
// path traversal through index names, overlapping tensor data, prototype keys).
import { describe, expect, it } from "vitest";
import { parseMergeConfig } from "../../src/config/parse-config.ts";
import { MAX_LEXICAL_NESTING, MAX_NODES } from "../../src/config/yaml-tree.ts";
import { AmalgamError } from "../../src/errors.ts";
import { parseBoundedJson } from "../../src/io/bounded-json.ts";
import { openModelFiles } from "../../src/io/model-files.ts";
import { MAX_HEADER_BYTES, parseSafetensorsHeader, readSafetensorsHeader } from "../../src/io/safetensors-header.ts";
import { MemoryModelDirectory, memorySource } from "../../src/fuzz/memory-model.ts";
import { MAX_LAYERS, inferStructure } from "../../src/plan/structure.ts";

const enc = new TextEncoder();

function file(header: string, dataBytes: number): Uint8Array {
  const h = enc.encode(header);
  const out = new Uint8Array(8 + h.length + dataBytes);
  new DataView(out.buffer).setUint32(0, h.length, true);
  out.set(h, 8);
  return out;
}

function header(json: string, dataBytes: number) {
  const raw = enc.encode(json);
  return () => parseSafetensorsHeader("m.safetensors", raw, 8 + raw.length + dataBytes);
}

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof AmalgamError) return `${e.code}: ${e.message}`;
    return `UNTYPED ${(e as Error).name}: ${(e as Error).message}`;
  }
  return "accepted";
}

async function codeAsync(fn: () => Promise<unknown>): Promise<string> {
  try {
    await fn();
  } catch (e) {
    if (e instanceof AmalgamError) return `${e.code}: ${e.message}`;
    return `UNTYPED ${(e as Error).name}: ${(e as Error).message}`;
  }
  return "accepted";
}

const T = (dtype: string, shape: number[], b: number, e: number) => JSON.stringify({ dtype, shape, data_offsets: [b, e] });

describe("safetensors headers", () => {
  it("accepts a valid header", () => {
    expect(code(header(`{"a":${T("F32", [2], 0, 8)},"b":${T("BF16", [3], 8, 14)}}`, 14))).toBe("accepted");
  });
  it.each([
    ["overlapping tensors", `{"a":${T("F32", [2], 0, 8)},"b":${T("F32", [2], 4, 12)}}`, 12, /overlap/],
    ["a gap between tensors", `{"a":${T("F32", [1], 0, 4)},"b":${T("F32", [1], 8, 12)}}`, 12, /unused/],
    ["bytes after the last tensor", `{"a":${T("F32", [1], 0, 4)}}`, 8, /data bytes after the header/],
    ["data past the end", `{"a":${T("F32", [4], 0, 16)}}`, 8, /run past/],
    ["a byte length that disagrees with the shape", `{"a":${T("F32", [3], 0, 8)}}`, 8, /needs 12/],
    ["a prototype member as dtype", `{"a":${T("__proto__", [1], 0, 4)}}`, 4, /unknown dtype/],
    ["toString as dtype", `{"a":${T("toString", [1], 0, 4)}}`, 4, /unknown dtype/],
    ["a negative dimension", `{"a":${T("F32", [-1], 0, 4)}}`, 4, /bad dimension/],
    ["a fractional dimension", `{"a":${T("F32", [1.5], 0, 4)}}`, 4, /bad dimension/],
    ["rank 9", `{"a":${T("F32", [1, 1, 1, 1, 1, 1, 1, 1, 1], 0, 4)}}`, 4, /rank 9 exceeds/],
    ["an element count past 2^53", `{"a":${T("U8", [2 ** 30, 2 ** 30, 2 ** 30], 0, 4)}}`, 4, /too many elements/],
    ["duplicate tensor names", `{"a":${T("F32", [1], 0, 4)},"a":${T("F32", [1], 0, 4)}}`, 4, /duplicate key "a"/],
    ["offsets past 2^53", `{"a":${T("F32", [1], 2 ** 53, 2 ** 53 + 4)}}`, 4, /two non-negative integers/],
    ["deep nesting", `{"a":${"[".repeat(100000)}`, 0, /nesting deeper than the limit of 4/],
    ["an unknown key", `{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"x":1}}`, 4, /unexpected key "x"/],
    ["non-string metadata", `{"__metadata__":{"a":1}}`, 0, /__metadata__\.a is not a string/],
    ["NaN", `{"a":NaN}`, 0, /expected a value/],
    ["trailing garbage", `{} x`, 0, /unexpected "x" after the JSON value/],
  ])("refuses %s (E_SAFETENSORS naming the file and tensor)", (_, json, data, re) => {
    const r = code(header(json, data));
    expect(r).toMatch(/^E_SAFETENSORS: m\.safetensors/);
    expect(r).toMatch(re);
  });
  it("refuses header lengths past the limit or the file before allocating", async () => {
    const f = file("{}", 0);
    new DataView(f.buffer).setUint32(0, MAX_HEADER_BYTES + 1, true);
    expect(await codeAsync(() => readSafetensorsHeader("m.safetensors", memorySource(f, "m")))).toMatch(/E_SAFETENSORS: .*exceeds the limit/);
    new DataView(f.buffer).setUint32(4, 0xffffffff, true);
    expect(await codeAsync(() => readSafetensorsHeader("m.safetensors", memorySource(f, "m")))).toMatch(/E_SAFETENSORS/);
    new DataView(f.buffer).setUint32(0, 1000, true);
    new DataView(f.buffer).setUint32(4, 0, true);
    expect(await codeAsync(() => readSafetensorsHeader("m.safetensors", memorySource(f, "m")))).toMatch(/runs past the end/);
  });
  it("invalid UTF-8 is refused", () => {
    expect(code(() => parseSafetensorsHeader("m.safetensors", Uint8Array.of(0x7b, 0xff, 0x7d), 11))).toMatch(/E_SAFETENSORS: .*not valid UTF-8/);
  });
});

function model(files: Record<string, Uint8Array | string>) {
  return new MemoryModelDirectory("org/m", new Map(Object.entries(files).map(([k, v]) => [k, typeof v === "string" ? enc.encode(v) : v])));
}
const CONFIG = `{"num_hidden_layers": 1}`;
const SHARD = file(`{"model.layers.0.w":${T("F32", [1], 0, 4)}}`, 4);

describe("indexes", () => {
  it.each([
    ["../model.safetensors"], ["/etc/passwd.safetensors"], ["a/b.safetensors"], ["a\\b.safetensors"], ["C:x.safetensors"], [".."], [""],
    ["x\u0000.safetensors"], ["model.bin"], [".hidden.safetensors"], ["m".repeat(300) + ".safetensors"],
  ])("refuses the shard name %j before touching storage (E_INDEX)", async (name) => {
    const dir = model({ "config.json": CONFIG, "model.safetensors.index.json": JSON.stringify({ weight_map: { "model.layers.0.w": name } }), "s.safetensors": SHARD });
    const r = await codeAsync(() => openModelFiles(dir));
    expect(r).toMatch(/^E_INDEX: org\/m\/model\.safetensors\.index\.json: weight_map\["model\.layers\.0\.w"\]: shard name/);
  });
  it("refuses an empty weight_map, duplicate keys, and non-string entries", async () => {
    for (const [index, re] of [
      [`{"weight_map":{}}`, /lists no tensors/],
      [`{"weight_map":{"a":"s.safetensors","a":"s.safetensors"}}`, /not valid JSON .*duplicate key "a"/],
      [`{"weight_map":{"a":1}}`, /is not a file name/],
      [`{"weight_map":[]}`, /missing or not an object/],
      [`[]`, /expected a JSON object/],
    ] as const) {
      expect(await codeAsync(() => openModelFiles(model({ "config.json": CONFIG, "model.safetensors.index.json": index, "s.safetensors": SHARD })))).toMatch(new RegExp(`^E_(INDEX|MODEL_CONFIG): org/m/model\\.safetensors\\.index\\.json: .*${re.source}`));
    }
  });
  it("a tensor the index places in a shard that lacks it is an error, not a silent skip", async () => {
    const dir = model({ "config.json": CONFIG, "model.safetensors.index.json": `{"weight_map":{"model.layers.0.w":"s.safetensors","b":"s.safetensors"}}`, "s.safetensors": SHARD });
    expect(await codeAsync(() => openModelFiles(dir))).toMatch(/E_INDEX: .*lists "b" in s\.safetensors, which does not contain it/);
  });
});

describe("config.json", () => {
  it.each([[1e15], [-1], [1.5], [MAX_LAYERS + 1]])("refuses num_hidden_layers = %d before planning allocates layers", async (n) => {
    const files = await openModelFiles(model({ "config.json": `{"num_hidden_layers": ${n}}`, "model.safetensors": SHARD }));
    expect(code(() => inferStructure(files))).toMatch(/^E_MODEL_CONFIG: org\/m\/config\.json: "num_hidden_layers" is .*expected an integer from 0 to 10000/);
  });
  it("refuses a layer index past the limit in a tensor name", async () => {
    const dir = model({ "config.json": `{}`, "model.safetensors": file(`{"model.layers.123456789.w":${T("F32", [1], 0, 4)}}`, 4) });
    const files = await openModelFiles(dir);
    expect(code(() => inferStructure(files))).toMatch(/^E_SAFETENSORS: org\/m: tensor "model\.layers\.123456789\.w" names layer 123456789, over the limit/);
  });
  it("keeps __proto__ a plain key and refuses deep nesting", async () => {
    const files = await openModelFiles(model({ "config.json": `{"__proto__": {"num_hidden_layers": 1e15}, "num_hidden_layers": 1}`, "model.safetensors": SHARD }));
    expect(Object.getPrototypeOf(files.config)).toBe(Object.prototype);
    expect(await codeAsync(() => openModelFiles(model({ "config.json": `{"a":${"[".repeat(200)}`, "model.safetensors": SHARD })))).toMatch(/E_MODEL_CONFIG: org\/m\/config\.json: not valid JSON \(invalid JSON at .*nesting deeper than the limit of 64/);
  });
});

describe("bounded JSON", () => {
  it("parses what JSON.parse parses, with __proto__ as an own key", () => {
    const text = `{"a":[1,-0,2.5e3,"\\u00e9\\n",true,null],"__proto__":{"x":1}}`;
    const v = parseBoundedJson(text, "f", "E_MODEL_CONFIG") as Record<string, unknown>;
    expect(v).toStrictEqual(JSON.parse(text));
    expect(Object.hasOwn(v, "__proto__")).toBe(true);
  });
  it("names the line, column and path of an error", () => {
    expect(code(() => parseBoundedJson(`{\n  "a": [1, 2,]\n}`, "f.json", "E_INDEX"))).toBe(`E_INDEX: f.json: invalid JSON at line 2, column 14 (in ["a"][2]): expected a value, found "]"`);
  });
});

describe("YAML configs", () => {
  it.each([
    ["nested sequences on one line (aborted the process inside the YAML library)", "- ".repeat(3000) + "x", /deeper than the limit of 256 columns/],
    ["unclosed flow brackets", "[".repeat(100000), /more than 256 unclosed/],
    ["deep indentation", "a:\n" + Array.from({ length: 300 }, (_, i) => " ".repeat(i + 1) + "a:").join("\n"), /column/],
    ["nesting within the lexical bound but past 32 levels", "a: " + "[".repeat(40) + "]".repeat(40), /nests deeper than 32 levels/],
    ["a billion laughs", "a: &a [x,x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: [*e,*e,*e,*e,*e,*e,*e,*e,*e,*e]", new RegExp(`more than ${MAX_NODES} values`)],
    ["a self-referencing alias", "a: &a [*a]", /nests deeper than 32/],
    ["an alias before its anchor", "a: *x\nb: &x 1", /alias \*x refers to no anchor before it/],
    ["duplicate keys", "merge_method: linear\nmerge_method: ties", /Map keys must be unique/],
    ["two documents", "a: 1\n---\nb: 2", /more than one YAML document/],
    ["an empty list of slices", "merge_method: linear\nslices: []", /slices .*non-empty list of slices/],
    ["an empty list of models", "merge_method: linear\nmodels: []", /models .*non-empty list of models/],
    ["more than 1 MiB", "#".repeat(1024 * 1024 + 1), /over the 1048576-byte limit/],
  ])("refuses %s (E_CONFIG naming the file or the config path)", (_, text, re) => {
    expect(MAX_LEXICAL_NESTING).toBe(256);
    const t0 = performance.now();
    const r = code(() => parseMergeConfig(text, "cfg.yml"));
    expect(r).toMatch(/^E_CONFIG(_TYPE)?: (cfg\.yml|\w+ \(line \d+, column \d+\))/);
    expect(r).toMatch(re);
    expect(performance.now() - t0).toBeLessThan(2000);
  });
  it("accepts anchors and aliases used as MergeKit users use them", () => {
    const c = parseMergeConfig("merge_method: linear\nmodels:\n  - model: a\n    parameters: &p {weight: 0.5}\n  - model: b\n    parameters: *p\n", "cfg.yml");
    expect(c.models!.map((m) => m.parameters.get("weight")?.setting)).toEqual([{ kind: "value", value: 0.5 }, { kind: "value", value: 0.5 }]);
  });
});
