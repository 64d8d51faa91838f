// The JSON Schema (draft 2020-12 subset) of the `--json` events every command writes, one per line:
// `start`, then `plan`, `progress`, `warning` (and multi's `stage`) as they happen, then `result`
// (or `error`). extract-lora's progress counts modules, with bytes 0. Apps that
// embed Amalgam can validate against it; tests/cli/tools-json.test.ts checks every command's real
// output against it, with additionalProperties false so the schema cannot drift from the code.

/** A JSON Schema node (the subset used here). */
export interface JsonSchema {
  readonly $schema?: string;
  readonly $id?: string;
  readonly $ref?: string;
  readonly $defs?: Readonly<Record<string, JsonSchema>>;
  readonly description?: string;
  readonly type?: "object" | "array" | "string" | "number" | "integer" | "boolean" | "null";
  readonly const?: string | number | boolean | null;
  readonly enum?: readonly (string | number | boolean | null)[];
  readonly properties?: Readonly<Record<string, JsonSchema>>;
  readonly required?: readonly string[];
  readonly additionalProperties?: boolean | JsonSchema;
  readonly items?: JsonSchema;
  readonly anyOf?: readonly JsonSchema[];
  readonly oneOf?: readonly JsonSchema[];
}

const str: JsonSchema = { type: "string" };
const num: JsonSchema = { type: "number" };
const int: JsonSchema = { type: "integer" };
const bool: JsonSchema = { type: "boolean" };
const ref = (name: string): JsonSchema => ({ $ref: `#/$defs/${name}` });
const orNull = (s: JsonSchema): JsonSchema => ({ anyOf: [s, { type: "null" }] });
const arr = (items: JsonSchema): JsonSchema => ({ type: "array", items });
const obj = (properties: Record<string, JsonSchema>, description?: string): JsonSchema => ({
  type: "object", properties, required: Object.keys(properties), additionalProperties: false, ...(description ? { description } : {}),
});
const record = (values: JsonSchema): JsonSchema => ({ type: "object", additionalProperties: values });
const role: JsonSchema = { enum: ["pre", "layer", "post"] };
const dtype = str;
const shape = arr(int);

const paramOrigin = obj({
  kind: { enum: ["config", "default", "unset"] }, path: orNull(str), filter: orNull(str), gradient: orNull(arr(num)), value: orNull(num),
});
const explainParam = obj({ name: str, value: orNull(num), origin: ref("paramOrigin") });

const tokenizerSummary = obj({
  files: arr(str), type: orNull(str), vocabSize: orNull(int), addedTokens: int, specialTokens: arr(str), tokenizerClass: orNull(str),
  bos: orNull(str), eos: orNull(str), pad: orNull(str), unk: orNull(str), chatTemplate: bool,
});

const diffStats = {
  elements: int, changed: int, changedFraction: orNull(num), relL2: orNull(num), cosine: orNull(num), normA: orNull(num), normB: orNull(num),
};

const shardRow = obj({ file: str, tensors: int, bytes: int });

/** One merge of a companion command (companion-results.ts: MergeRunData). */
const mergeRun = { out: str, method: str, tensors: int, bytes: int, files: arr(str), threads: int, peakKernelBytes: int };

const defs: Record<string, JsonSchema> = {
  paramOrigin,
  explainParam,
  tokenizerSummary,
  planSummary: obj({
    config: str, method: str,
    models: arr(obj({ model: str, layers: int, tensors: int, base: bool, donor: bool })),
    layers: int, tensors: int, bytes: int, shards: arr(shardRow),
    dtypes: arr(obj({ working: dtype, output: dtype, tensors: int })),
    part: orNull(obj({ index: int, count: int, files: arr(str) })),
    warnings: arr(str),
  }, "merge plan summary (merge --json / --dry-run, check)"),
  explainReport: obj({
    config: str, method: str, models: arr(str), base: orNull(str), layers: int, tensorsTotal: int,
    tensors: arr(obj({
      name: str, role, layer: orNull(int), t: num, shape, workingDtype: dtype, outDtype: dtype, file: str,
      global: arr(ref("explainParam")),
      sources: arr(obj({ model: str, tensor: str, layer: orNull(int), base: bool, dtype, shape, params: arr(ref("explainParam")) })),
    })),
    warnings: arr(str),
  }),
  checkReport: obj({
    config: str, ok: bool,
    problems: arr(obj({ code: str, message: str, fix: str })),
    warnings: arr(str),
    models: arr(obj({
      model: str, loaded: bool, architecture: orNull(str), modelType: orNull(str), layers: orNull(int), tensors: orNull(int),
      dtypes: arr(str), vocabSize: orNull(int), embedRows: orNull(int), tokenizer: orNull(ref("tokenizerSummary")),
    })),
    tokenizers: arr(obj({
      a: str, b: str, compared: bool, identical: bool, differing: int, onlyA: int, onlyB: int,
      examples: arr(obj({ id: int, a: orNull(str), b: orNull(str) })),
    })),
    plan: orNull(ref("planSummary")),
    memory: orNull(obj({ kernelBytes: int, processBytes: int, tileElements: int, tiledTensors: int, streamedTensors: int, wholeTensors: int, largestWholeBytes: int, exact: bool })),
    time: orNull(obj({
      seconds: orNull(num), readSeconds: orNull(num), mergeSeconds: orNull(num), writeSeconds: orNull(num), writeRate: orNull(num), readBytes: int, readRate: orNull(num), sampledBytes: int,
      mergeRate: orNull(num), methodTimed: bool, threads: int, writeBytes: int,
    })),
  }),
  inspectReport: obj({
    model: str, architecture: orNull(str), modelType: orNull(str), layers: int, layerCountKey: orNull(str), layerPrefix: orNull(str),
    parameters: int, bytes: int,
    dtypes: arr(obj({ dtype: str, tensors: int, parameters: int })),
    shards: arr(shardRow),
    config: record({ anyOf: [str, num, bool, { type: "null" }] }),
    tokenizer: orNull(ref("tokenizerSummary")),
    tensors: arr(obj({ name: str, dtype: str, shape, file: str, role, layer: orNull(int) })),
    warnings: arr(str),
  }),
  diffReport: obj({
    a: str, b: str, identical: bool,
    tensors: arr(obj({
      name: str, role, layer: orNull(int), status: { enum: ["compared", "partial", "shape-mismatch", "not-float", "only-a", "only-b"] },
      dtypeA: orNull(str), dtypeB: orNull(str), shapeA: orNull(shape), shapeB: orNull(shape), rowsCompared: orNull(int), maxAbsDiff: orNull(num),
      ...diffStats,
    })),
    layers: arr(obj({ group: str, role, layer: orNull(int), tensors: int, ...diffStats })),
    total: obj({ group: { const: "all" }, role: { const: "all" }, layer: { type: "null" }, tensors: int, ...diffStats }),
    onlyA: arr(str), onlyB: arr(str), mismatched: arr(str),
  }),
  convertReport: obj({
    model: str, dtype: { enum: ["F32", "BF16", "F16"] }, tensors: int, converted: int, bytesIn: int, bytesOut: int,
    shards: arr(shardRow), files: arr(str), out: str, seconds: num,
  }),
  mergeResult: obj({ dryRun: bool, out: str, files: arr(str), seconds: num, threads: int, peakKernelBytes: int }),
  assembleResult: obj({ out: str, parts: int, files: arr(str) }),
  multiResult: obj({
    out: orNull(str), intermediateDir: str, singlePass: bool,
    stages: arr({
      oneOf: [
        obj({ name: orNull(str), status: { const: "merged" }, evaluated: arr(str), ...mergeRun }),
        obj({ name: orNull(str), status: { const: "skipped" }, out: str }),
      ],
    }),
    seconds: num,
  }, "the stages written or skipped, in the order they ran; name null is the final (unnamed) merge"),
  pytorchResult: obj({ ...mergeRun, models: int, seconds: num }),
  moeResult: obj({ ...mergeRun, architecture: str, experts: int, sharedExperts: int, seconds: num }),
  extractLoraResult: obj({
    out: str, files: arr(str),
    modules: arr(obj({ module: str, action: { enum: ["lora", "save", "skip"] }, rank: orNull(int), reason: orNull(str) })),
    modulesToSave: arr(str), seconds: num,
  }),
};

const COMMANDS = ["merge", "assemble", "explain", "check", "inspect", "diff", "convert", "multi", "pytorch", "moe", "extract-lora"] as const;
const command: JsonSchema = { enum: COMMANDS };
const result = (cmd: string, data: string): JsonSchema => obj({ type: { const: "result" }, command: { const: cmd }, ok: bool, data: ref(data) });

export const JSON_EVENT_SCHEMA: JsonSchema = {
  $schema: "https://json-schema.org/draft/2020-12/schema",
  description: "One line of `amalgam <command> --json` output",
  $defs: defs,
  oneOf: [
    obj({ type: { const: "start" }, command, version: int }),
    obj({ type: { const: "plan" }, command: { enum: ["merge", "check"] }, data: ref("planSummary") }),
    obj({ type: { const: "progress" }, command, tensorsDone: int, tensorsTotal: int, bytesDone: int, bytesTotal: int, tensor: str }),
    obj({ type: { const: "warning" }, command, message: str }),
    obj({ type: { const: "stage" }, command: { const: "multi" }, name: orNull(str), out: str, status: { enum: ["start", "merged", "skipped"] } }),
    result("merge", "mergeResult"),
    result("assemble", "assembleResult"),
    result("explain", "explainReport"),
    result("check", "checkReport"),
    result("inspect", "inspectReport"),
    result("diff", "diffReport"),
    result("convert", "convertReport"),
    result("multi", "multiResult"),
    result("pytorch", "pytorchResult"),
    result("moe", "moeResult"),
    result("extract-lora", "extractLoraResult"),
    obj({ type: { const: "error" }, command, code: str, message: str }),
  ],
};
