// `amalgam check`: everything that can be known about a merge without merging. The config, every
// model's headers, the tensors each output needs (all of them, not just the first missing one),
// shapes, dtypes, vocabularies and tokenizers, then the plan itself, the output's size and shards,
// and an estimate of time and memory. Each problem says what to change.
import { parseMergeConfig } from "../config/parse-config.ts";
import type { MergeConfig, ModelRef } from "../config/types.ts";
import { isDType } from "../dtype.ts";
import { AmalgamError } from "../errors.ts";
import type { Kernels } from "../kernels/kernels.ts";
import type { ModelDirectory, ResolveModel } from "../io/storage.ts";
import { getMethod } from "../methods/registry.ts";
import { buildPlan } from "../plan/build-plan.ts";
import { isEmbedName, layerTensorName } from "../plan/structure.ts";
import type { ModelStructure } from "../plan/structure.ts";
import type { MergePlan } from "../plan/types.ts";
import { estimateMemory, estimateTime } from "./merge-estimate.ts";
import type { MemoryEstimate, TimeEstimate } from "./merge-estimate.ts";
import { architectureOf, openModel } from "./model-summary.ts";
import type { OpenedModel } from "./model-summary.ts";
import { summarizePlan } from "./plan-summary.ts";
import type { PlanSummary } from "./plan-summary.ts";
import { compareTokenizers, loadTokenizer } from "./tokenizer-info.ts";
import type { Tokenizer, TokenizerComparison, TokenizerSummary } from "./tokenizer-info.ts";

/** Names listed in one problem before "and N more". */
const MAX_LISTED = 5;

export interface CheckProblem {
  readonly code: string;
  readonly message: string;
  /** What to change. */
  readonly fix: string;
}

export interface CheckedModel {
  readonly model: string;
  readonly loaded: boolean;
  readonly architecture: string | null;
  readonly modelType: string | null;
  readonly layers: number | null;
  readonly tensors: number | null;
  readonly dtypes: readonly string[];
  /** config.json vocab_size, and the rows of the input embedding. */
  readonly vocabSize: number | null;
  readonly embedRows: number | null;
  readonly tokenizer: TokenizerSummary | null;
}

export interface CheckReport {
  readonly config: string;
  /** Whether the merge would succeed (no problems). */
  readonly ok: boolean;
  readonly problems: readonly CheckProblem[];
  readonly warnings: readonly string[];
  readonly models: readonly CheckedModel[];
  /** The donor's tokenizer against every other model's. */
  readonly tokenizers: readonly TokenizerComparison[];
  readonly plan: PlanSummary | null;
  readonly memory: MemoryEstimate | null;
  readonly time: TimeEstimate | null;
}

export interface CheckOptions {
  readonly resolveModel: ResolveModel;
  readonly outShardSize?: number;
  /** Kernels to time the method with; without them there is no time estimate. */
  readonly kernels?: Kernels;
  readonly threads: number;
  readonly workers: boolean;
  readonly memoryBudget?: number;
  readonly now: () => number;
  readonly sampleBytes?: number;
  /** Measures the output location's write rate (bytes/s); without it writing is not counted. */
  readonly measureWriteRate?: () => Promise<number>;
}

function list(names: readonly string[]): string {
  const shown = names.slice(0, MAX_LISTED).map((n) => `"${n}"`).join(", ");
  return names.length > MAX_LISTED ? `${shown} and ${names.length - MAX_LISTED} more` : shown;
}

/** What to change for an error the planner or a reader raised. */
export function fixFor(code: string, configFile: string): string {
  switch (code) {
    case "E_CONFIG": case "E_CONFIG_TYPE": case "E_CONFIG_UNKNOWN_KEY":
      return `edit ${configFile} at the place the message names`;
    case "E_UNKNOWN_METHOD":
      return "set merge_method to one of the methods listed";
    case "E_UNSUPPORTED":
      return "use a supported feature or input format (see the README's status table)";
    case "E_MODEL_NOT_FOUND":
      return "check the model path (local paths are relative to the current directory) or the URL / hub name";
    case "E_MODEL_CONFIG": case "E_SAFETENSORS": case "E_INDEX":
      return "the model's files are damaged or incomplete: download it again";
    case "E_TENSOR_MISSING":
      return "merge only models of the same architecture, or pick layer ranges every model has";
    case "E_SHAPE":
      return "merge only models of the same size (same hidden and intermediate sizes), or take these tensors from one model with passthrough slices";
    case "E_DTYPE":
      return "only F32, BF16 and F16 tensors can be merged; convert the model first";
    case "E_IO":
      return "check that the file or URL is readable";
    default:
      return "see the message";
  }
}

function refsOf(config: MergeConfig): ModelRef[] {
  const out: ModelRef[] = [];
  const seen = new Set<string>();
  const add = (r: ModelRef | undefined) => { if (r && !seen.has(r.text)) { seen.add(r.text); out.push(r); } };
  for (const m of config.models ?? []) add(m.model);
  for (const s of config.slices ?? []) for (const src of s.sources) add(src.model);
  for (const s of config.slices ?? []) add(s.baseModel);
  add(config.baseModel);
  return out;
}

interface Source { readonly ref: string; readonly structure: ModelStructure; readonly opened: OpenedModel; readonly start: number; readonly end: number; readonly path: string }

/** The tensors each slice needs, checked in every source: missing tensors, shapes, dtypes. */
function checkTensors(config: MergeConfig, opened: ReadonlyMap<string, OpenedModel>, problems: CheckProblem[], warnings: string[]): void {
  const src = (ref: ModelRef, range: readonly [number, number] | undefined, path: string): Source | undefined => {
    const o = opened.get(ref.text);
    if (!o?.structure) return undefined;
    const [start, end] = range ?? [0, o.structure.numLayers];
    return { ref: ref.text, structure: o.structure, opened: o, start, end, path };
  };
  const slices: Source[][] = [];
  if (config.models) {
    const s = config.models.map((m) => src(m.model, undefined, m.path));
    if (config.baseModel && !config.models.some((m) => m.model.text === config.baseModel!.text)) s.push(src(config.baseModel, undefined, "base_model"));
    if (s.some((x) => !x)) return;
    const srcs = s as Source[];
    const counts = new Set(srcs.map((x) => x.end));
    if (counts.size > 1) {
      problems.push({
        code: "E_TENSOR_MISSING",
        message: `the models have different layer counts (${srcs.map((x) => `${x.ref}: ${x.end}`).join(", ")})`,
        fix: "merge models with the same number of layers, or use slices with layer_range to pick matching layers",
      });
      return;
    }
    slices.push(srcs);
  } else {
    let complete = true;
    for (const sl of config.slices!) {
      const s = sl.sources.map((x) => src(x.model, x.layerRange, x.path));
      let bad = false;
      for (const x of s) {
        if (x && x.end > x.structure.numLayers) {
          problems.push({ code: "E_CONFIG", message: `${x.path}.layer_range: [${x.start}, ${x.end}] exceeds the ${x.structure.numLayers} layers of ${x.ref}`, fix: `use a layer_range within [0, ${x.structure.numLayers}]` });
          bad = true;
        }
      }
      if (s.some((x) => !x)) { complete = false; continue; }
      const srcs = s as Source[];
      const len = srcs[0]!.end - srcs[0]!.start;
      if (srcs.some((x) => x.end - x.start !== len)) {
        problems.push({ code: "E_CONFIG", message: `${sl.path}: the sources cover different numbers of layers (${srcs.map((x) => `${x.ref}: ${x.end - x.start}`).join(", ")})`, fix: "give every source of a slice a layer_range of the same length" });
        bad = true;
      }
      if (bad) complete = false;
      else slices.push(srcs);
    }
    if (!complete) return;
  }
  const missing = new Map<string, string[]>();
  const shapeIssues: string[] = [];
  const dtypeIssues: string[] = [];
  const vocabNotes = new Set<string>();
  const need = (out: string, names: readonly string[], srcs: readonly Source[]) => {
    const found = srcs.map((s, i) => {
      let t = s.opened.files.tensors.get(names[i]!);
      if (!t && isEmbedName(out) && /(^|\.)lm_head\./.test(out)) {
        const e = s.structure.pre.find((p) => isEmbedName(p));
        if (e) t = s.opened.files.tensors.get(e);
      }
      if (!t) {
        const l = missing.get(s.ref) ?? [];
        l.push(names[i]!);
        missing.set(s.ref, l);
      } else if (!isDType(t.dtype)) {
        dtypeIssues.push(`"${t.name}" is ${t.dtype} in ${s.ref}`);
      }
      return t;
    });
    const present = found.filter((t) => t !== undefined);
    if (present.length < 2) return;
    const first = present[0]!.shape;
    if (present.every((t) => t.shape.join() === first.join())) return;
    const desc = srcs.map((s, i) => (found[i] ? `${s.ref} [${found[i]!.shape.join(", ")}]` : "")).filter(Boolean).join(", ");
    if (isEmbedName(out) && present.every((t) => t.shape.length === 2)) vocabNotes.add(`"${out}": ${desc}`);
    else shapeIssues.push(`"${out}": ${desc}`);
  };
  const union = (srcs: readonly Source[], pick: (s: ModelStructure) => readonly string[]) => [...new Set(srcs.flatMap((s) => pick(s.structure)))].sort();
  const first = slices[0]!;
  const last = slices[slices.length - 1]!;
  for (const n of union(first, (s) => s.pre)) need(n, first.map(() => n), first);
  let outLayer = 0;
  for (const srcs of slices) {
    const lead = srcs[0]!;
    for (let k = 0; k < lead.end - lead.start; k++) {
      for (const rest of lead.structure.layers[lead.start + k] ?? []) {
        need(layerTensorName(lead.structure.prefix!, outLayer, rest), srcs.map((s) => layerTensorName(s.structure.prefix ?? lead.structure.prefix!, s.start + k, rest)), srcs);
      }
      outLayer++;
    }
  }
  for (const n of union(last, (s) => s.post)) need(n, last.map(() => n), last);
  // layer tensors a later source has but the first source of its slice lacks are not merged
  const extra = new Map<string, string[]>();
  for (const srcs of slices) {
    const lead = srcs[0]!;
    for (const s of srcs.slice(1)) {
      for (let k = 0; k < lead.end - lead.start; k++) {
        const have = new Set(lead.structure.layers[lead.start + k] ?? []);
        for (const rest of s.structure.layers[s.start + k] ?? []) {
          if (!have.has(rest)) extra.set(s.ref, [...(extra.get(s.ref) ?? []), layerTensorName(s.structure.prefix!, s.start + k, rest)]);
        }
      }
    }
  }
  for (const [ref, names] of extra) {
    warnings.push(`${ref} has ${names.length} layer tensor${names.length === 1 ? "" : "s"} the output will not contain (the first source of a slice decides a layer's tensors): ${list(names)}`);
  }
  for (const [ref, names] of missing) {
    problems.push({ code: "E_TENSOR_MISSING", message: `model ${ref} lacks ${names.length} tensor${names.length === 1 ? "" : "s"} the merge needs: ${list(names)}`, fix: fixFor("E_TENSOR_MISSING", config.file) });
  }
  if (shapeIssues.length) problems.push({ code: "E_SHAPE", message: `${shapeIssues.length} tensor${shapeIssues.length === 1 ? " has" : "s have"} different shapes: ${shapeIssues.slice(0, MAX_LISTED).join("; ")}${shapeIssues.length > MAX_LISTED ? `; and ${shapeIssues.length - MAX_LISTED} more` : ""}`, fix: fixFor("E_SHAPE", config.file) });
  if (dtypeIssues.length) problems.push({ code: "E_DTYPE", message: `${dtypeIssues.length} needed tensor${dtypeIssues.length === 1 ? " is" : "s are"} not floating point: ${dtypeIssues.slice(0, MAX_LISTED).join("; ")}`, fix: fixFor("E_DTYPE", config.file) });
  for (const v of vocabNotes) warnings.push(`vocabulary sizes differ for ${v}: the merge keeps the common rows (as MergeKit does without tokenizer_source); tokens past them are dropped`);
}

function checkedModel(ref: string, o: OpenedModel | undefined, tok: Tokenizer | undefined): CheckedModel {
  if (!o) return { model: ref, loaded: false, architecture: null, modelType: null, layers: null, tensors: null, dtypes: [], vocabSize: null, embedRows: null, tokenizer: null };
  const embed = o.structure?.pre.find((p) => /embed/.test(p) && o.files.tensors.get(p)?.shape.length === 2);
  const v = o.files.config["vocab_size"];
  return {
    model: ref,
    loaded: true,
    ...architectureOf(o.files.config),
    layers: o.structure?.numLayers ?? null,
    tensors: o.files.tensors.size,
    dtypes: [...new Set([...o.files.tensors.values()].map((t) => t.dtype))].sort(),
    vocabSize: typeof v === "number" ? v : null,
    embedRows: embed ? o.files.tensors.get(embed)!.shape[0]! : null,
    tokenizer: tok?.summary ?? null,
  };
}

export async function checkMerge(configText: string, configFile: string, options: CheckOptions): Promise<CheckReport> {
  const problems: CheckProblem[] = [];
  const warnings: string[] = [];
  const report = (extra: Partial<CheckReport> = {}): CheckReport => ({
    config: configFile, ok: problems.length === 0, problems, warnings, models: [], tokenizers: [], plan: null, memory: null, time: null, ...extra,
  });
  const problem = (e: unknown) => {
    if (!(e instanceof AmalgamError)) throw e;
    const fix = /is required but not set/.test(e.message)
      ? "set it in that model's parameters, or once in the top-level parameters for every model"
      : fixFor(e.code, configFile);
    problems.push({ code: e.code, message: e.message, fix });
  };
  let config: MergeConfig;
  try {
    config = parseMergeConfig(configText, configFile);
  } catch (e) {
    problem(e);
    return report();
  }
  try {
    getMethod(config.mergeMethod, `${configFile}: merge_method`);
  } catch (e) {
    problem(e);
  }
  // every model once; the planner below gets the same directories
  const dirs = new Map<string, Promise<ModelDirectory>>();
  const resolve: ResolveModel = (ref) => {
    let d = dirs.get(ref);
    if (!d) dirs.set(ref, (d = options.resolveModel(ref)));
    return d;
  };
  const opened = new Map<string, OpenedModel>();
  const tokenizers = new Map<string, Tokenizer | undefined>();
  const refs = refsOf(config);
  for (const ref of refs) {
    try {
      if (ref.lora) throw new AmalgamError("E_UNSUPPORTED", `model "${ref.text}": LoRA references (model+lora) are not supported yet`);
      const dir = await resolve(ref.revision ? `${ref.path}@${ref.revision}` : ref.path);
      const o = await openModel(dir);
      opened.set(ref.text, o);
      for (const w of o.warnings) problems.push({ code: "E_UNSUPPORTED", message: `${ref.text}: ${w}`, fix: fixFor("E_UNSUPPORTED", configFile) });
      try {
        tokenizers.set(ref.text, await loadTokenizer(dir));
      } catch (e) {
        if (!(e instanceof AmalgamError)) throw e;
        warnings.push(`${ref.text}: tokenizer not read (${e.message})`);
      }
    } catch (e) {
      problem(e);
    }
  }
  const models = refs.map((r) => checkedModel(r.text, opened.get(r.text), tokenizers.get(r.text)));
  const loaded = models.filter((m) => m.loaded);
  const archs = new Set(loaded.map((m) => `${m.architecture ?? "?"} (${m.modelType ?? "?"})`));
  if (archs.size > 1) {
    warnings.push(`the models' architectures differ (${loaded.map((m) => `${m.model}: ${m.architecture ?? "?"}`).join(", ")}); MergeKit refuses this without --allow-crimes, Amalgam merges when the tensors line up`);
  }
  const vocab = new Set(loaded.map((m) => m.embedRows ?? m.vocabSize));
  if (vocab.size > 1) warnings.push(`vocabulary sizes differ (${loaded.map((m) => `${m.model}: ${m.embedRows ?? m.vocabSize ?? "?"}`).join(", ")})`);
  checkTensors(config, opened, problems, warnings);

  // tokenizers: the donor's (base, else first model) against each other model's
  const donorRef = config.baseModel?.text ?? refs[0]?.text;
  const comparisons: TokenizerComparison[] = [];
  if (donorRef && opened.has(donorRef)) {
    for (const r of refs) {
      if (r.text === donorRef || !opened.has(r.text)) continue;
      const c = compareTokenizers(donorRef, tokenizers.get(donorRef), r.text, tokenizers.get(r.text));
      comparisons.push(c);
      if (c.compared && !c.identical) {
        const ex = c.examples.slice(0, 5).map((d) => `id ${d.id}: ${JSON.stringify(d.a)} vs ${JSON.stringify(d.b)}`).join(", ");
        warnings.push(`tokenizers differ between ${c.a} and ${c.b}: ${c.differing} ids map to different tokens, ${c.onlyA} only in the first, ${c.onlyB} only in the second (${ex}); the output uses ${c.a}'s tokenizer, so embedding rows of those ids mix different tokens — merge models that share a tokenizer`);
      }
    }
  }

  let plan: MergePlan | undefined;
  try {
    if (problems.length === 0 || !problems.some((p) => p.code.startsWith("E_CONFIG") || p.code === "E_MODEL_NOT_FOUND")) {
      plan = await buildPlan(config, { resolveModel: resolve, outShardSize: options.outShardSize });
    }
  } catch (e) {
    if (!(e instanceof AmalgamError)) throw e;
    if (!problems.some((p) => p.code === e.code)) problem(e);
  }
  try {
    if (!plan || problems.length) return report({ models, tokenizers: comparisons });
    for (const w of plan.warnings) warnings.push(w);
    let memory: MemoryEstimate | null = null;
    let time: TimeEstimate | null = null;
    if (options.kernels) {
      const k = options.kernels;
      memory = estimateMemory(plan, { threads: options.threads, workers: options.workers, memoryBudget: options.memoryBudget, heapStart: k.heapStart, initialBytes: k.memory.buffer.byteLength });
      const writeRate = options.measureWriteRate ? await options.measureWriteRate() : undefined;
      time = await estimateTime(plan, { kernels: k, threads: options.threads, workers: options.workers, now: options.now, sampleBytes: options.sampleBytes, writeRate });
    }
    return report({ models, tokenizers: comparisons, plan: summarizePlan(plan), memory, time });
  } finally {
    for (const d of dirs.values()) await (await d.catch(() => undefined))?.close?.();
  }
}
