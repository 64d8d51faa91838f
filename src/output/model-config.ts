// config.json of the output: the donor's, with the layer count and dtype updated.
import { DTYPES } from "../dtype.ts";
import { setConfigPath } from "../arch/config-path.ts";
import type { MergePlan } from "../plan/types.ts";

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v && typeof v === "object") {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) out[k] = sortKeys((v as Record<string, unknown>)[k]);
    return out;
  }
  return v;
}

/**
 * MergeKit (transformers 5) writes `dtype`; we also keep `torch_dtype` with the same value so
 * transformers 4.x reads the dtype too (docs/compat.md). Keys are sorted as transformers sorts them.
 */
export function outputModelConfig(plan: MergePlan): string {
  const cfg: Record<string, unknown> = structuredClone(plan.donor.files.config) as Record<string, unknown>;
  for (const { key, count } of plan.layerCounts) if (key) setConfigPath(cfg, key, count);
  // A merged vocabulary: config.json names its (padded) size.
  if (plan.tokenizer) setConfigPath(cfg, plan.donor.structure.architecture?.vocabSizeKey ?? "vocab_size", plan.tokenizer.paddedSize);
  const d = plan.config.outDtype ?? plan.config.dtype;
  const dtype = d ? DTYPES[d].torch : (cfg["dtype"] ?? cfg["torch_dtype"]);
  if (dtype !== undefined) {
    cfg["dtype"] = dtype;
    cfg["torch_dtype"] = dtype;
  }
  return JSON.stringify(sortKeys(cfg), null, 2) + "\n";
}
