// The `result` data of the companion commands' --json output (multi, pytorch, moe, extract-lora);
// their shapes are in JSON_EVENT_SCHEMA (src/inspect/json-event-schema.ts).
import type { MergeResult } from "../executor/merge.ts";
import type { ExtractLoraResult } from "../lora/extract-lora.ts";
import type { MoeResult } from "../moe/build-moe.ts";

/** What one merge wrote and how it ran (pytorch, each multi stage, moe). */
export interface MergeRunData {
  readonly out: string;
  readonly method: string;
  readonly tensors: number;
  readonly bytes: number;
  readonly files: readonly string[];
  readonly threads: number;
  readonly peakKernelBytes: number;
}

export function mergeRunData(out: string, r: MergeResult): MergeRunData {
  return { out, method: r.plan.method.name, tensors: r.plan.tensors.length, bytes: r.plan.totalBytes, files: r.files, threads: r.threads, peakKernelBytes: r.peakKernelBytes };
}

/** One stage of a multi recipe: merged (with its merge's data) or skipped (--lazy: its output existed). */
export type MultiStageData =
  | ({ readonly name: string | null; readonly status: "merged"; readonly evaluated: readonly string[] } & MergeRunData)
  | { readonly name: string | null; readonly status: "skipped"; readonly out: string };

export interface MultiResultData {
  readonly out: string | null;
  readonly intermediateDir: string;
  readonly singlePass: boolean;
  /** The stages written or skipped, in the order they ran. */
  readonly stages: readonly MultiStageData[];
  readonly seconds: number;
}

export interface PytorchResultData extends MergeRunData {
  readonly models: number;
  readonly seconds: number;
}

export interface MoeResultData extends MergeRunData {
  readonly architecture: string;
  readonly experts: number;
  readonly sharedExperts: number;
  readonly seconds: number;
}

export function moeResultData(out: string, r: MoeResult, seconds: number): MoeResultData {
  return { ...mergeRunData(out, r), architecture: r.architecture, experts: r.experts, sharedExperts: r.sharedExperts, seconds };
}

export interface ExtractLoraModuleData {
  readonly module: string;
  readonly action: "lora" | "save" | "skip";
  /** The factors' rank (lora modules), else null. */
  readonly rank: number | null;
  /** Why a module was left out (skip), else null. */
  readonly reason: string | null;
}

export interface ExtractLoraResultData {
  readonly out: string;
  readonly files: readonly string[];
  readonly modules: readonly ExtractLoraModuleData[];
  readonly modulesToSave: readonly string[];
  readonly seconds: number;
}

export function extractLoraResultData(out: string, r: ExtractLoraResult, seconds: number): ExtractLoraResultData {
  const modules = r.modules.map((m): ExtractLoraModuleData => ({
    module: m.module,
    action: m.action.kind,
    rank: m.action.kind === "lora" ? r.ranks.get(m.module) ?? null : null,
    reason: m.action.kind === "skip" ? m.action.reason : null,
  }));
  return { out, files: r.files, modules, modulesToSave: r.modulesToSave, seconds };
}
