// A merge plan in a few numbers: models, layers, tensors, dtypes, output size and shards. Printed by
// `merge --dry-run` and `check`, and sent as the `plan` event of `merge --json`.
import { assignShards } from "../executor/parts.ts";
import type { MergePlan } from "../plan/types.ts";
import { fmtBytes, textTable } from "./text-table.ts";

export interface PlanSummary {
  readonly config: string;
  readonly method: string;
  readonly models: readonly {
    readonly model: string;
    readonly layers: number;
    readonly tensors: number;
    readonly base: boolean;
    /** Donates config.json and the tokenizer. */
    readonly donor: boolean;
  }[];
  readonly layers: number;
  readonly tensors: number;
  /** Bytes of tensor data in the output (shard headers not counted). */
  readonly bytes: number;
  readonly shards: readonly { readonly file: string; readonly tensors: number; readonly bytes: number }[];
  /** Working and output dtypes with the number of tensors of each combination. */
  readonly dtypes: readonly { readonly working: string; readonly output: string; readonly tensors: number }[];
  /** Shard files of this part, for `merge --shard I/N` (null otherwise). */
  readonly part: { readonly index: number; readonly count: number; readonly files: readonly string[] } | null;
  readonly warnings: readonly string[];
}

export function summarizePlan(plan: MergePlan, part?: { readonly index: number; readonly count: number }): PlanSummary {
  const dtypes = new Map<string, number>();
  for (const t of plan.tensors) {
    const k = `${t.workingDtype}\0${t.outDtype}`;
    dtypes.set(k, (dtypes.get(k) ?? 0) + 1);
  }
  return {
    config: plan.config.file,
    method: plan.method.name,
    models: plan.models.map((m) => ({ model: m.ref.text, layers: m.structure.modules.reduce((a, x) => a + x.numLayers, 0), tensors: m.files.tensors.size, base: m === plan.base, donor: m === plan.donor })),
    layers: plan.numLayers,
    tensors: plan.tensors.length,
    bytes: plan.totalBytes,
    shards: plan.shards.map((s) => ({ file: s.file, tensors: s.tensors.length, bytes: s.layout.totalBytes })),
    dtypes: [...dtypes].map(([k, n]) => {
      const [working, output] = k.split("\0") as [string, string];
      return { working, output, tensors: n };
    }),
    part: part ? { index: part.index, count: part.count, files: assignShards(plan, part.count)[part.index - 1] ?? [] } : null,
    warnings: plan.warnings,
  };
}

/** The summary as terminal rows (label, text). */
export function planSummaryRows(s: PlanSummary, withModels = true): string[][] {
  const rows: string[][] = [];
  rows.push(["method", `${s.method} (${s.config})`]);
  if (withModels) s.models.forEach((m, i) => {
    const roles = [m.base ? "base" : "", m.donor ? "donates config and tokenizer" : ""].filter(Boolean).join(", ");
    rows.push([i === 0 ? "models" : "", `${m.model}: ${m.layers} layers, ${m.tensors} tensors${roles ? ` (${roles})` : ""}`]);
  });
  rows.push(["output", `${s.layers} layers, ${s.tensors} tensors, ${fmtBytes(s.bytes)} in ${s.shards.length} shard${s.shards.length === 1 ? "" : "s"}`]);
  rows.push(["dtypes", s.dtypes.map((d) => `${d.tensors} tensor${d.tensors === 1 ? "" : "s"} in ${d.working} -> ${d.output}`).join(", ")]);
  const shardList = s.shards.length <= 8 ? s.shards : [...s.shards.slice(0, 4), ...s.shards.slice(-2)];
  shardList.forEach((sh, i) => {
    rows.push([i === 0 ? "shards" : "", `${sh.file} (${sh.tensors} tensor${sh.tensors === 1 ? "" : "s"}, ${fmtBytes(sh.bytes)})`]);
    if (s.shards.length > 8 && i === 3) rows.push(["", `... ${s.shards.length - 6} more`]);
  });
  if (s.part) rows.push(["this part", `${s.part.index}/${s.part.count}: ${s.part.files.join(", ") || "no shards (more parts than shards)"}`]);
  return rows;
}

export function planSummaryText(s: PlanSummary): string {
  let out = textTable(planSummaryRows(s));
  for (const w of s.warnings) out += `  warning: ${w}\n`;
  return out;
}
