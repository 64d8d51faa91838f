// config.json of the output: the donor's, with the layer count and dtype updated.
import { DTYPES } from "../dtype.ts";
import { setConfigPath } from "../arch/config-path.ts";
import { jsonPathKey } from "../io/bounded-json.ts";
import type { MergePlan } from "../plan/types.ts";
import { pythonJson } from "./python-json.ts";

/**
 * MergeKit (transformers 5) writes `dtype`; we also keep `torch_dtype` with the same value so
 * transformers 4.x reads the dtype too (docs/compat.md). Written as transformers writes it:
 * json.dumps(indent=2, sort_keys=True), the donor's numbers as they were (python-json.ts).
 */
export function outputModelConfig(plan: MergePlan): string {
  const cfg: Record<string, unknown> = structuredClone(plan.donor.files.config) as Record<string, unknown>;
  const numberTexts = new Map(plan.donor.files.configNumbers);
  const set = (key: string, value: number) => {
    setConfigPath(cfg, key, value);
    numberTexts.delete(key.split(".").reduce(jsonPathKey, "")); // an int MergeKit sets, whatever the donor wrote
  };
  for (const { key, count } of plan.layerCounts) if (key) set(key, count);
  // A merged vocabulary: config.json names its (padded) size.
  if (plan.tokenizer) set(plan.donor.structure.architecture?.vocabSizeKey ?? "vocab_size", plan.tokenizer.paddedSize);
  const d = plan.config.outDtype ?? plan.config.dtype;
  const dtype = d ? DTYPES[d].torch : (cfg["dtype"] ?? cfg["torch_dtype"]);
  if (dtype !== undefined) {
    cfg["dtype"] = dtype;
    cfg["torch_dtype"] = dtype;
  }
  return pythonJson(cfg, { indent: 2, sortKeys: true, numberTexts }) + "\n";
}
