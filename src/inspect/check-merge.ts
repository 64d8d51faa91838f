// `amalgam check`: everything that can be known about a merge without merging. The config, every
// model's headers, the tensors each output needs (all of them, not just the first missing one),
// shapes, dtypes, vocabularies and tokenizers, then the plan itself, the output's size and shards,
// and an estimate of time and memory. Each problem says what to change.
import { parseMergeConfig } from "../config/parse-config.ts";
import type { MergeConfig, ModelRef } from "../config/types.ts";
import { AmalgamError } from "../errors.ts";
import type { Kernels } from "../kernels/kernels.ts";
import type { ModelDirectory, ResolveModel } from "../io/storage.ts";
import { getMethod } from "../methods/registry.ts";
import { buildPlan } from "../plan/build-plan.ts";
import type { MergePlan } from "../plan/types.ts";
import { fixFor } from "./check-problem.ts";
import type { CheckProblem } from "./check-problem.ts";
import { estimateMemory, estimateTime } from "./merge-estimate.ts";
import type { MemoryEstimate, TimeEstimate } from "./merge-estimate.ts";
import { architectureOf, openModel } from "./model-summary.ts";
import type { OpenedModel } from "./model-summary.ts";
import { checkTensors } from "./needed-tensors.ts";
import { summarizePlan } from "./plan-summary.ts";
import type { PlanSummary } from "./plan-summary.ts";
import { compareTokenizers, loadTokenizer } from "./tokenizer-info.ts";
import type { Tokenizer, TokenizerComparison, TokenizerSummary } from "./tokenizer-info.ts";

export type { CheckProblem } from "./check-problem.ts";

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
      time = await estimateTime(plan, { kernels: k, threads: options.threads, workers: options.workers, now: options.now, sampleBytes: options.sampleBytes, writeRate, memoryBudget: options.memoryBudget });
    }
    return report({ models, tokenizers: comparisons, plan: summarizePlan(plan), memory, time });
  } finally {
    for (const d of dirs.values()) await (await d.catch(() => undefined))?.close?.();
  }
}
