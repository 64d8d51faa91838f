// The fuzz targets by name.
import type { AnyFuzzTarget, FuzzTargetName } from "./target.ts";
import { safetensorsFuzzTarget } from "./target-safetensors.ts";
import { configFuzzTarget, indexFuzzTarget } from "./target-model.ts";
import { yamlFuzzTarget } from "./target-yaml.ts";
import { jsonFuzzTarget } from "./target-json.ts";
import { torchFuzzTarget } from "./target-torch.ts";

export const FUZZ_TARGET_TABLE: Readonly<Record<FuzzTargetName, AnyFuzzTarget>> = {
  safetensors: safetensorsFuzzTarget,
  index: indexFuzzTarget,
  config: configFuzzTarget,
  yaml: yamlFuzzTarget,
  json: jsonFuzzTarget,
  pytorch: torchFuzzTarget,
};
