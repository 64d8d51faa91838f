// config.json is written as MergeKit (transformers' save_pretrained: json.dumps(indent=2,
// sort_keys=True)) writes it: Python float reprs, ints as ints, the donor's numbers as it wrote them.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseBoundedJson } from "../../src/io/bounded-json.ts";
import { pythonFloatRepr, pythonJson } from "../../src/output/python-json.ts";
import { convertedConfig } from "../../src/inspect/convert-model.ts";
import { writeModel } from "../fixtures/make-model.ts";
import { cli } from "../companion/helpers/cli.ts";
import { GOLDEN, runGolden, runMerge, tempDir } from "../helpers/run-merge.ts";

/** Parses JSON text keeping its number texts, and writes it back as Python would. */
function roundTrip(text: string, indent = 2, sortKeys = true): string {
  const numberTexts = new Map<string, string>();
  const v = parseBoundedJson(text, "t.json", "E_MODEL_CONFIG", undefined, numberTexts);
  return pythonJson(v, { indent, sortKeys, numberTexts });
}

describe("Python's json.dumps", () => {
  it("float repr: shortest round-trip digits, exponent below 1e-4 and from 1e16 (values from CPython)", () => {
    const cases: [number, string][] = [
      [1e-5, "1e-05"], [1e-6, "1e-06"], [10000, "10000.0"], [0.02, "0.02"], [0, "0.0"], [-0, "-0.0"],
      [1e-4, "0.0001"], [9.999e-5, "9.999e-05"], [1e15, "1000000000000000.0"], [1e16, "1e+16"], [1e22, "1e+22"],
      [2.5e-7, "2.5e-07"], [1 / 3, "0.3333333333333333"], [123456789012345678, "1.2345678901234568e+17"],
      [5e-324, "5e-324"], [1.7976931348623157e308, "1.7976931348623157e+308"], [-1.5e-10, "-1.5e-10"],
      [Infinity, "Infinity"], [-Infinity, "-Infinity"], [NaN, "NaN"],
    ];
    for (const [v, want] of cases) expect(pythonFloatRepr(v), want).toBe(want);
  });

  it("numbers keep their kind: floats as reprs (whatever their spelling), ints with all their digits", () => {
    expect(roundTrip('{"a": 0.00001, "b": 1E-6, "c": 10000.00, "d": 10000, "e": 2e2, "f": -0, "g": 12345678901234567890, "h": 1e400}'))
      .toBe('{\n  "a": 1e-05,\n  "b": 1e-06,\n  "c": 10000.0,\n  "d": 10000,\n  "e": 200.0,\n  "f": 0,\n  "g": 12345678901234567890,\n  "h": Infinity\n}');
  });

  it("numbers without a source text: integral ones are ints; sorted keys, ensure_ascii escapes, empty containers (as CPython writes them)", () => {
    const doc = { b: [1, 2.5, { z: "\u00e9\u007f\u2028\u{1F600}\n", a: null }], a: true, empty: {}, e2: [], n: 1e21 };
    expect(pythonJson(doc, { indent: 2, sortKeys: true })).toBe(
      '{\n  "a": true,\n  "b": [\n    1,\n    2.5,\n    {\n      "a": null,\n      "z": "\\u00e9\\u007f\\u2028\\ud83d\\ude00\\n"\n    }\n  ],\n  "e2": [],\n  "empty": {},\n  "n": 1000000000000000000000\n}',
    );
    expect(pythonJson({ b: 1, a: [2.0] }, { indent: 4, sortKeys: false })).toBe('{\n    "b": 1,\n    "a": [\n        2\n    ]\n}');
  });

  it("numbers in nested objects and arrays keep their texts too", () => {
    expect(roundTrip('{"rope_scaling": {"factor": 8.0, "type": "llama3"}, "layers": [1.0, 2, 3e0]}'))
      .toBe('{\n  "layers": [\n    1.0,\n    2,\n    3.0\n  ],\n  "rope_scaling": {\n    "factor": 8.0,\n    "type": "llama3"\n  }\n}');
  });
});

describe("the output's config.json", () => {
  it("is MergeKit's reference config.json for the golden linear merge, but for transformers_version and torch_dtype", async () => {
    const { out } = await runGolden("linear");
    const ours = readFileSync(join(out, "config.json"), "utf8");
    const ref = readFileSync(join(GOLDEN, "reference", "linear", "config.json"), "utf8");
    const strip = (t: string) => t.split("\n").filter((l) => !/"(transformers_version|torch_dtype)"/.test(l)).join("\n").trimEnd();
    expect(strip(ours)).toBe(strip(ref));
    expect(ours).toMatch(/"rms_norm_eps": 1e-05,\n/);
    expect(ours).toMatch(/"rope_theta": 10000\.0,\n/);
    expect(ours.endsWith("}\n")).toBe(true);
  });

  it("keeps the donor's ints and floats as the donor wrote them; the layer count it sets is an int", async () => {
    const root = tempDir();
    writeModel(join(root, "m"));
    const cfg = JSON.parse(readFileSync(join(root, "m", "config.json"), "utf8")) as Record<string, unknown>;
    const text = JSON.stringify({ ...cfg, num_hidden_layers: "LAYERS", rope_theta: "THETA", rms_norm_eps: "EPS", rope_scaling: "SCALING", name_or_path: "café" }, null, 2)
      .replace('"LAYERS"', "4.0").replace('"THETA"', "500000").replace('"EPS"', "0.00001")
      .replace('"SCALING"', '{"factor": 32.0, "original_max_position_embeddings": 8192, "low_freq_factor": 1}');
    writeFileSync(join(root, "m", "config.json"), text);
    const out = join(root, "out");
    await runMerge("merge_method: linear\nmodels:\n  - model: m\n    parameters: {weight: 1}\n", root, out);
    const got = readFileSync(join(out, "config.json"), "utf8");
    expect(got).toContain('"rope_theta": 500000,\n');
    expect(got).toContain('"rms_norm_eps": 1e-05,\n');
    expect(got).toContain('"num_hidden_layers": 4,\n');
    expect(got).toContain('"attention_dropout": 0,\n'); // written by JSON.stringify above: an int now
    expect(got).toContain('"name_or_path": "caf\\u00e9",\n');
    expect(got).toContain('"rope_scaling": {\n    "factor": 32.0,\n    "low_freq_factor": 1,\n    "original_max_position_embeddings": 8192\n  },\n');
  });

  it("moe: the base model's floats stay floats", async () => {
    const out = join(tempDir(), "moe");
    expect((await cli("moe", "examples/moe.yml", out, "--quiet")).code).toBe(0);
    const got = readFileSync(join(out, "config.json"), "utf8");
    for (const line of ['"attention_dropout": 0.0,', '"rms_norm_eps": 1e-05,', '"rope_theta": 10000.0,', '"initializer_range": 0.02,']) expect(got).toContain(line);
  });

  it("convert: a config.json without a dtype key is written again with its numbers as they were", () => {
    expect(convertedConfig('{"rope_theta": 10000.0, "eps": 1e-5, "layers": 4}', "BF16"))
      .toBe('{\n  "rope_theta": 10000.0,\n  "eps": 1e-05,\n  "layers": 4,\n  "torch_dtype": "bfloat16"\n}\n');
  });
});
