// Everything of the output besides the shard files: the index, config.json, tokenizer and
// generation files, the model card and mergekit_config.yml.
import { writeWhole } from "../io/storage.ts";
import type { OutputSink } from "../io/storage.ts";
import type { MergePlan } from "../plan/types.ts";
import { modelCard } from "./model-card.ts";
import { outputModelConfig } from "./model-config.ts";
import { writeTokenizerFiles } from "./tokenizer-files.ts";

export interface ModelFilesOptions {
  readonly copyTokenizer?: boolean;
  readonly writeModelCard?: boolean;
  readonly outputName?: string;
  readonly onWarning?: (message: string) => void;
}

/** MergeKit's index: written only for more than one shard, tensors in write order. */
export function shardIndexJson(plan: MergePlan): string {
  const fileOf = new Map<string, string>();
  for (const s of plan.shards) for (const t of s.tensors) fileOf.set(t.name, s.file);
  const weightMap: Record<string, string> = {};
  for (const t of plan.tensors) weightMap[t.name] = fileOf.get(t.name)!;
  return JSON.stringify({ metadata: { total_size: plan.totalBytes, mergekit_version: "0.1.4" }, weight_map: weightMap }, null, 2);
}

/** Writes the non-weight files; returns their names. */
export async function writeModelFiles(plan: MergePlan, sink: OutputSink, options: ModelFilesOptions): Promise<string[]> {
  const files: string[] = [];
  if (plan.shards.length > 1) {
    await writeWhole(sink, "model.safetensors.index.json", shardIndexJson(plan));
    files.push("model.safetensors.index.json");
  }
  await writeWhole(sink, "config.json", outputModelConfig(plan));
  files.push("config.json");
  files.push(...(await writeTokenizerFiles(plan, sink, options)));
  if (options.writeModelCard ?? true) {
    await writeWhole(sink, "README.md", modelCard(plan, options.outputName ?? "merge", new Set()));
    await writeWhole(sink, "mergekit_config.yml", plan.config.text);
    files.push("README.md", "mergekit_config.yml");
  }
  return files;
}
