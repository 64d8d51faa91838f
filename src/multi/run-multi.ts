// Runs a multi-stage recipe. Staged (MergeKit's mergekit-multi): one merge at a time in dependency
// order, each written to its directory, with --lazy skipping outputs that already exist. Single
// pass: only the outputs no other stage reads are written; the stages they depend on are
// evaluated tensor by tensor on demand (VirtualModel), with the same bytes the staged run writes.
import { merge } from "../executor/merge.ts";
import type { MergeOptions, MergeResult, TensorRun } from "../executor/merge.ts";
import { AmalgamError } from "../errors.ts";
import { Kernels } from "../kernels/kernels.ts";
import type { ModelDirectory, OutputSink, ResolveModel } from "../io/storage.ts";
import { buildPlan } from "../plan/build-plan.ts";
import type { MergePlan } from "../plan/types.ts";
import { orderStages, stageLabel } from "./multi-config.ts";
import type { MergeStage, MultiConfig } from "./multi-config.ts";
import { VirtualModel } from "./virtual-model.ts";

/** An output counts as done when it has config.json and one of these (MergeKit's MODEL_CHECK_FILENAMES). */
export const MODEL_CHECK_FILENAMES = ["model.safetensors", "pytorch_model.bin", "model.safetensors.index.json", "pytorch_model.bin.index.json"] as const;

export interface MultiRunOptions {
  readonly resolveModel: ResolveModel;
  createSink(dir: string): Promise<OutputSink>;
  /** File names in a directory ([] when it does not exist). */
  listDir(dir: string): Promise<string[]>;
  joinPath(dir: string, name: string): string;
  baseName(path: string): string;
  readonly intermediateDir: string;
  /** Where the unnamed (final) merge goes; required when there is one. */
  readonly outPath?: string;
  /** Skip merges whose output already exists (default true, as MergeKit). */
  readonly lazy?: boolean;
  /** Evaluate intermediate merges on demand instead of writing them. */
  readonly singlePass?: boolean;
  /** Options of every merge; `kernels` must be a WebAssembly.Module for single-pass runs. */
  readonly merge: Omit<MergeOptions, "resolveModel" | "sink" | "outputName" | "plan">;
  onStage?(event: StageEvent): void;
}

export interface StageEvent {
  readonly stage: MergeStage;
  readonly outDir: string;
  /** "start" before a merge, then "merged" or "skipped" (lazy: the output exists). */
  readonly status: "start" | "merged" | "skipped";
  readonly result?: MergeResult;
  /** Single pass: the stages evaluated on the fly for this output. */
  readonly evaluated?: readonly string[];
  /** Single pass: intermediate tensors computed (each once unless it had to be recomputed). */
  readonly tensorsEvaluated?: number;
}

export interface MultiRunResult {
  readonly order: readonly MergeStage[];
  readonly written: readonly string[];
  readonly skipped: readonly string[];
}

async function isDone(options: MultiRunOptions, dir: string): Promise<boolean> {
  const names = new Set(await options.listDir(dir));
  return names.has("config.json") && MODEL_CHECK_FILENAMES.some((n) => names.has(n));
}

/** Runs every stage (staged) or every output stage (single pass). */
export async function runMulti(multi: MultiConfig, options: MultiRunOptions): Promise<MultiRunResult> {
  const order = orderStages(multi);
  if (order.some((s) => s.name === undefined) && !options.outPath) {
    throw new AmalgamError("E_ARGS", `--out-path is required when the configuration contains an unnamed final merge (${multi.file})`);
  }
  const outDir = (s: MergeStage) => (s.name === undefined ? options.outPath! : options.joinPath(options.intermediateDir, s.name));
  const lazy = options.lazy ?? true;
  const written: string[] = [];
  const skipped: string[] = [];
  const needed = new Set(order.flatMap((s) => s.dependencies));
  const targets = options.singlePass ? order.filter((s) => s.name === undefined || !needed.has(s.name)) : order;
  for (const stage of targets) {
    const dir = outDir(stage);
    if (lazy && (await isDone(options, dir))) {
      skipped.push(dir);
      options.onStage?.({ stage, outDir: dir, status: "skipped" });
      continue;
    }
    options.onStage?.({ stage, outDir: dir, status: "start" });
    const run = options.singlePass ? await runSinglePass(order, stage, dir, options) : { result: await runStage(stage, dir, options), evaluated: [], tensorsEvaluated: 0 };
    written.push(dir);
    options.onStage?.({ stage, outDir: dir, status: "merged", ...run });
  }
  return { order, written, skipped };
}

async function runStage(stage: MergeStage, dir: string, options: MultiRunOptions, resolveModel: ResolveModel = options.resolveModel, plan?: MergePlan): Promise<MergeResult> {
  // A recipe re-runs its stages into their own directories (--no-lazy), as mergekit-multi does.
  return merge(stage.config, { overwrite: true, ...options.merge, plan, resolveModel, sink: await options.createSink(dir), outputName: options.baseName(dir) });
}

/** The stages `target` reads, directly or not, in dependency order. */
function closure(order: readonly MergeStage[], target: MergeStage): MergeStage[] {
  const byName = new Map(order.filter((s) => s.name !== undefined).map((s) => [s.name!, s]));
  const need = new Set<MergeStage>();
  const visit = (s: MergeStage) => {
    for (const d of s.dependencies) {
      const dep = byName.get(d)!;
      if (!need.has(dep)) { need.add(dep); visit(dep); }
    }
  };
  visit(target);
  return order.filter((s) => need.has(s));
}

async function runSinglePass(order: readonly MergeStage[], target: MergeStage, dir: string, options: MultiRunOptions): Promise<{ result: MergeResult; evaluated: string[]; tensorsEvaluated: number }> {
  const module = options.merge.kernels;
  if (!(module instanceof WebAssembly.Module)) throw new AmalgamError("E_ARGS", "a single-pass run needs the kernel module (one kernel instance per intermediate merge)");
  const warn = options.merge.onWarning ?? (() => {});
  const virtuals = new Map<string, VirtualModel>();
  const resolveModel: ResolveModel = async (ref: string): Promise<ModelDirectory> => {
    const v = virtuals.get(ref) ?? virtuals.get(ref.replace(/@[^@/]*$/, ""));
    return v ?? options.resolveModel(ref);
  };
  const expect = (plan: MergePlan) => {
    for (const m of plan.models) if (m.files.dir instanceof VirtualModel) m.files.dir.expectReads(plan);
  };
  const planOptions = { resolveModel, outShardSize: options.merge.outShardSize, fixQuirks: options.merge.fixQuirks, allowCrimes: options.merge.allowCrimes, kernelModule: module };
  const intermediates: { stage: MergeStage; plan: MergePlan; quirks: Map<string, { description: string; tensors: string[] }> }[] = [];
  try {
    for (const stage of closure(order, target)) {
      const plan = await buildPlan(stage.config, planOptions);
      for (const w of plan.warnings) warn(`${stageLabel(stage)}: ${w}`);
      expect(plan);
      const quirks = new Map<string, { description: string; tensors: string[] }>();
      const seen = new Set<string>();
      const run: TensorRun = {
        seed: options.merge.randomSeed ?? 0,
        fixQuirks: options.merge.fixQuirks ?? false,
        warn: (m) => { if (!seen.has(m)) { seen.add(m); warn(`${stageLabel(stage)}: ${m}`); } },
        quirk: (id, description, tensor) => {
          let q = quirks.get(id);
          if (!q) quirks.set(id, (q = { description, tensors: [] }));
          if (!q.tensors.includes(tensor)) q.tensors.push(tensor);
        },
      };
      const path = options.joinPath(options.intermediateDir, stage.name!);
      virtuals.set(path, await VirtualModel.create(path, plan, await Kernels.instantiate(module), run, options.merge.copyTokenizer ?? true));
      intermediates.push({ stage, plan, quirks });
    }
    const plan = await buildPlan(target.config, planOptions);
    expect(plan);
    const result = await runStage(target, dir, options, resolveModel, plan);
    for (const { stage, quirks } of intermediates) {
      for (const [id, q] of quirks) {
        const list = q.tensors.length > 6 ? `${q.tensors.slice(0, 6).join(", ")} and ${q.tensors.length - 6} more` : q.tensors.join(", ");
        warn(`${stageLabel(stage)}: ${q.description} [quirk ${id}; ${q.tensors.length} tensor(s): ${list}]${options.merge.fixQuirks ? "" : " (--fix-quirks applies the fix)"}`);
      }
    }
    let tensorsEvaluated = 0;
    for (const v of virtuals.values()) tensorsEvaluated += v.computed;
    return { result, evaluated: intermediates.map((i) => i.stage.name!), tensorsEvaluated };
  } finally {
    for (const v of virtuals.values()) v.clear();
    for (const { plan } of intermediates) {
      for (const m of plan.models) if (!(m.files.dir instanceof VirtualModel)) await m.files.dir.close?.().catch(() => {});
    }
  }
}
