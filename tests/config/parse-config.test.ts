// Config errors name the config path with line and column and say what was expected.
import { describe, expect, it } from "vitest";
import { parseMergeConfig } from "../../src/config/parse-config.ts";
import { AmalgamError } from "../../src/errors.ts";

function parseError(yaml: string): AmalgamError {
  try {
    parseMergeConfig(yaml, "cfg.yml");
  } catch (e) {
    expect(e).toBeInstanceOf(AmalgamError);
    return e as AmalgamError;
  }
  throw new Error("expected an error");
}

const CASES: { what: string; yaml: string; code: string; message: string }[] = [
  {
    what: "a word where a weight goes",
    yaml: "merge_method: linear\nmodels:\n  - model: a\n    parameters: {weight: 0.5}\n  - model: b\n    parameters:\n      weight: high\n",
    code: "E_CONFIG_TYPE",
    message: 'models[1].parameters.weight (line 7, column 15): expected a number or a list of numbers, got "high"',
  },
  {
    what: "a word inside a gradient inside a filter",
    yaml: "merge_method: linear\nmodels:\n  - model: a\n    parameters:\n      weight:\n        - filter: mlp\n          value: [1, x]\n",
    code: "E_CONFIG_TYPE",
    message: 'models[0].parameters.weight[0].value[1] (line 7, column 22): expected a number or a list of numbers, got "x"',
  },
  {
    what: "an empty gradient",
    yaml: "merge_method: linear\nmodels:\n  - model: a\n    parameters: {weight: []}\n",
    code: "E_CONFIG_TYPE",
    message: "models[0].parameters.weight (line 4, column 26): expected a number or a list of numbers, got an empty list",
  },
  {
    what: "an unknown top-level key",
    yaml: "merge_method: linear\nmodelz:\n  - model: a\n",
    code: "E_CONFIG_UNKNOWN_KEY",
    message: 'modelz (line 3, column 3): unknown key "modelz"; expected one of: merge_method, models, slices, modules, base_model, dtype, out_dtype, parameters, tokenizer_source, tokenizer, chat_template, name',
  },
  {
    what: "an unknown key in a model entry",
    yaml: "merge_method: linear\nmodels:\n  - model: a\n    params: {weight: 1}\n",
    code: "E_CONFIG_UNKNOWN_KEY",
    message: 'models[0].params (line 4, column 13): unknown key "params"; expected one of: model, parameters',
  },
  {
    what: "an unknown key in a slice",
    yaml: "merge_method: passthrough\nslices:\n  - sources:\n      - model: a\n        layer_range: [0, 1]\n    weights: 1\n",
    code: "E_CONFIG_UNKNOWN_KEY",
    message: 'slices[0].weights (line 6, column 14): unknown key "weights"; expected one of: sources, base_model, residual_weight, parameters',
  },
  {
    what: "an unknown key in a filtered value",
    yaml: "merge_method: linear\nmodels:\n  - model: a\n    parameters:\n      weight:\n        - filtr: mlp\n          value: 1\n",
    code: "E_CONFIG_UNKNOWN_KEY",
    message: 'models[0].parameters.weight[0].filtr (line 6, column 18): unknown key "filtr"; expected one of: filter, value',
  },
  {
    what: "a filtered list mixing mappings and numbers",
    yaml: "merge_method: linear\nmodels:\n  - model: a\n    parameters:\n      weight:\n        - filter: mlp\n          value: 1\n        - 0.5\n",
    code: "E_CONFIG_TYPE",
    message: "models[0].parameters.weight[1] (line 8, column 11): expected a {filter, value} mapping (all items of a filtered list must be mappings), got 0.5",
  },
  {
    what: "a bare {filter, value} mapping (MergeKit accepts it, then crashes)",
    yaml: "merge_method: linear\nmodels:\n  - model: a\n    parameters:\n      weight: {filter: mlp, value: 1}\n",
    code: "E_CONFIG_TYPE",
    message: 'models[0].parameters.weight (line 5, column 15): a single {filter, value} mapping must be written as a list item ("- filter: ...")',
  },
  {
    what: "a model entry without model",
    yaml: "merge_method: linear\nmodels:\n  - parameters: {weight: 1}\n",
    code: "E_CONFIG",
    message: 'models[0] (line 3, column 5): missing "model"',
  },
  {
    what: "an empty models list",
    yaml: "merge_method: linear\nmodels: []\n",
    code: "E_CONFIG_TYPE",
    message: "models (line 2, column 9): expected a non-empty list of models, got an empty list",
  },
  {
    what: "an empty slices list",
    yaml: "merge_method: linear\nslices: []\n",
    code: "E_CONFIG_TYPE",
    message: "slices (line 2, column 9): expected a non-empty list of slices, got an empty list",
  },
  {
    what: "a slice without sources",
    yaml: "merge_method: passthrough\nslices:\n  - base_model: a\n",
    code: "E_CONFIG_TYPE",
    message: "slices[0] (line 3, column 5): expected a non-empty list of sources",
  },
  {
    what: "a source without layer_range",
    yaml: "merge_method: passthrough\nslices:\n  - sources:\n      - model: a\n",
    code: "E_CONFIG",
    message: 'slices[0].sources[0] (line 4, column 9): missing "layer_range" (every source of a slice needs [start, end])',
  },
  {
    what: "layer_range that ends before it starts",
    yaml: "merge_method: passthrough\nslices:\n  - sources:\n      - model: a\n        layer_range: [3, 1]\n",
    code: "E_CONFIG_TYPE",
    message: "slices[0].sources[0].layer_range (line 5, column 22): expected [start, end] with integers 0 <= start <= end, got [3, 1]",
  },
  {
    what: "layer_range with one number",
    yaml: "merge_method: passthrough\nslices:\n  - sources:\n      - model: a\n        layer_range: [0]\n",
    code: "E_CONFIG_TYPE",
    message: "slices[0].sources[0].layer_range (line 5, column 22): expected [start, end], got a list",
  },
  {
    what: "layer_range with a fraction",
    yaml: "merge_method: passthrough\nslices:\n  - sources:\n      - model: a\n        layer_range: [0, 1.5]\n",
    code: "E_CONFIG_TYPE",
    message: "slices[0].sources[0].layer_range (line 5, column 22): expected [start, end] with integers 0 <= start <= end, got [0, 1.5]",
  },
  {
    what: "layer_range as a string",
    yaml: 'merge_method: passthrough\nslices:\n  - sources:\n      - model: a\n        layer_range: "0-4"\n',
    code: "E_CONFIG_TYPE",
    message: 'slices[0].sources[0].layer_range (line 5, column 22): expected [start, end], got "0-4"',
  },
  {
    what: "an unknown dtype",
    yaml: "merge_method: linear\ndtype: float64\nmodels:\n  - model: a\n",
    code: "E_CONFIG_TYPE",
    message: 'dtype (line 2, column 8): unknown dtype "float64"; expected one of bfloat16, float16, float32',
  },
  {
    what: "an unknown out_dtype",
    yaml: "merge_method: linear\nout_dtype: fp8\nmodels:\n  - model: a\n",
    code: "E_CONFIG_TYPE",
    message: 'out_dtype (line 2, column 12): unknown dtype "fp8"; expected one of bfloat16, float16, float32',
  },
  {
    what: "a list as merge_method",
    yaml: "merge_method: [linear]\nmodels:\n  - model: a\n",
    code: "E_CONFIG_TYPE",
    message: "merge_method (line 1, column 15): expected a merge method name, got a list",
  },
  {
    what: "parameters given as a list",
    yaml: "merge_method: linear\nparameters: [1, 2]\nmodels:\n  - model: a\n",
    code: "E_CONFIG_TYPE",
    message: "parameters (line 2, column 13): expected a mapping of parameter names to values, got a list",
  },
  {
    what: "a model reference with two revisions",
    yaml: "merge_method: linear\nmodels:\n  - model: a@b@c\n",
    code: "E_CONFIG",
    message: 'models[0].model (line 3, column 12): model reference "a@b@c" has more than one "@" in "a@b@c"',
  },
  {
    what: "a top-level list",
    yaml: "- a\n- b\n",
    code: "E_CONFIG_TYPE",
    message: "config (line 1, column 1): expected a mapping at the top level of the config, got a list",
  },
  {
    what: "broken YAML",
    yaml: "merge_method: linear\nmodels:\n  - model: a\n   parameters: [\n",
    code: "E_CONFIG",
    message: "cfg.yml (line 4, column 1): invalid YAML: Sequence item without - indicator",
  },
  {
    what: "a repeated key",
    yaml: "merge_method: linear\nmerge_method: ties\nmodels:\n  - model: a\n",
    code: "E_CONFIG",
    message: "cfg.yml (line 2, column 1): invalid YAML: Map keys must be unique",
  },
  {
    what: "no merge_method",
    yaml: "models:\n  - model: a\n",
    code: "E_CONFIG",
    message: 'cfg.yml: missing "merge_method"',
  },
  {
    what: "neither models nor slices",
    yaml: "merge_method: linear\n",
    code: "E_CONFIG",
    message: 'cfg.yml: exactly one of "models", "slices" or "modules" must be given (found 0)',
  },
  {
    what: "both models and slices",
    yaml: "merge_method: linear\nmodels:\n  - model: a\nslices:\n  - sources:\n      - model: a\n        layer_range: [0, 1]\n",
    code: "E_CONFIG",
    message: 'cfg.yml: exactly one of "models", "slices" or "modules" must be given (found 2)',
  },
  {
    what: "an empty file",
    yaml: "",
    code: "E_CONFIG",
    message: "cfg.yml: the config is empty",
  },
];

describe("config errors", () => {
  for (const c of CASES) {
    it(c.what, () => {
      const e = parseError(c.yaml);
      expect(e.code).toBe(c.code);
      expect(e.message).toBe(c.message);
    });
  }
});

describe("config values", () => {
  it("reads gradients, filters, dtypes and pydantic-style coercions", () => {
    const c = parseMergeConfig(`
merge_method: linear
dtype: torch.bfloat16
out_dtype: float16
parameters:
  normalize: false
  weight:
    - filter: mlp
      value: [0, 0.5, 1]
    - value: 0.25
models:
  - model: ./a@rev
    parameters: {weight: "0.5"}
  - model: b
    parameters: {weight: yes}
`, "cfg.yml");
    expect(c.dtype).toBe("BF16");
    expect(c.outDtype).toBe("F16");
    expect(c.parameters.get("normalize")!.setting).toEqual({ kind: "value", value: 0 });
    expect(c.parameters.get("weight")!.setting).toEqual({ kind: "conditional", items: [{ filter: "mlp", value: [0, 0.5, 1] }, { filter: undefined, value: 0.25 }] });
    expect(c.models![0]!.model).toMatchObject({ path: "./a", revision: "rev" });
    expect(c.models![0]!.parameters.get("weight")!.setting).toEqual({ kind: "value", value: 0.5 });
    expect(c.models![1]!.parameters.get("weight")!.setting).toEqual({ kind: "value", value: 1 }); // YAML 1.1 yes
  });
});

describe("YAML 1.1 as PyYAML reads it", () => {
  it("yes/no/on/off are booleans (coerced to 1/0), but plain y and n stay strings", () => {
    const c = parseMergeConfig("merge_method: linear\nparameters: {normalize: off, weight: on}\nmodels:\n  - model: y\n  - model: n\n    parameters: {weight: yes}\n", "cfg.yml");
    expect(c.models!.map((m) => m.model.path)).toEqual(["y", "n"]);
    expect(c.parameters.get("normalize")!.setting).toEqual({ kind: "value", value: 0 });
    expect(c.parameters.get("weight")!.setting).toEqual({ kind: "value", value: 1 });
    expect(c.models![1]!.parameters.get("weight")!.setting).toEqual({ kind: "value", value: 1 });
  });
});
