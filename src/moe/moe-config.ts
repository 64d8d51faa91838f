// mergekit-moe's configuration (moe/config.py): base_model, experts [{source_model,
// positive_prompts, negative_prompts, noise_scale, residual_scale}], gate_mode, dtype,
// experts_per_token, shared_experts, architecture; and its checks (is_bad_config).
import { parseModelRef } from "../config/model-ref.ts";
import type { ModelRef } from "../config/types.ts";
import { configError, parseYamlTree, where } from "../config/yaml-tree.ts";
import type { YMap, YNode } from "../config/yaml-tree.ts";
import { parseConfigDType } from "../dtype.ts";
import type { DType } from "../dtype.ts";
import { AmalgamError } from "../errors.ts";

export type GateMode = "hidden" | "hidden_avg" | "hidden_last" | "cheap_embed" | "random" | "uniform_random";
const GATE_MODES: readonly GateMode[] = ["hidden", "hidden_avg", "hidden_last", "cheap_embed", "random", "uniform_random"];
/** More experts than this are refused (MoE checkpoints have at most a few hundred). */
export const MAX_EXPERTS = 1024;

export interface ExpertConfig {
  readonly sourceModel: ModelRef;
  readonly positivePrompts: readonly string[];
  readonly negativePrompts: readonly string[];
  readonly noiseScale: number | undefined;
  readonly residualScale: number | undefined;
  readonly path: string;
}

export interface MoeConfig {
  readonly baseModel: ModelRef;
  readonly experts: readonly ExpertConfig[];
  readonly sharedExperts: readonly ExpertConfig[];
  readonly gateMode: GateMode;
  readonly dtype: DType | undefined;
  readonly expertsPerToken: number;
  readonly architecture: string | undefined;
  readonly text: string;
  readonly file: string;
}

function get(m: YMap, key: string): YNode | undefined {
  for (const [k, v] of m.entries) if (k === key) return v;
  return undefined;
}

function isNull(n: YNode | undefined): boolean {
  return n === undefined || (n.kind === "scalar" && n.value === null);
}

function checkKeys(m: YMap, allowed: readonly string[]): void {
  for (const [k, v] of m.entries) if (!allowed.includes(k)) throw configError(v, `unknown key "${k}"; expected one of: ${allowed.join(", ")}`, "E_CONFIG_UNKNOWN_KEY");
}

function str(n: YNode, what: string): string {
  if (n.kind === "scalar" && (typeof n.value === "string" || typeof n.value === "number")) return String(n.value);
  throw configError(n, `expected ${what}`, "E_CONFIG_TYPE");
}

function num(n: YNode | undefined, what: string): number | undefined {
  if (isNull(n)) return undefined;
  const v = n!.kind === "scalar" ? n!.value : undefined;
  if (typeof v === "number") return v;
  if (typeof v === "string" && v.trim() !== "" && Number.isFinite(Number(v))) return Number(v);
  throw configError(n!, `expected ${what}`, "E_CONFIG_TYPE");
}

function strings(n: YNode | undefined, what: string): string[] {
  if (isNull(n)) return [];
  if (n!.kind !== "seq") throw configError(n!, `expected a list of ${what}`, "E_CONFIG_TYPE");
  return n!.items.map((x) => str(x, what));
}

function modelRef(n: YNode): ModelRef {
  return parseModelRef(str(n, "a model path or reference"), where(n));
}

function expert(n: YNode): ExpertConfig {
  if (n.kind !== "map") throw configError(n, "expected a mapping with source_model", "E_CONFIG_TYPE");
  checkKeys(n, ["source_model", "positive_prompts", "negative_prompts", "noise_scale", "residual_scale"]);
  const src = get(n, "source_model");
  if (isNull(src)) throw configError(n, `missing "source_model"`);
  return {
    sourceModel: modelRef(src!),
    positivePrompts: strings(get(n, "positive_prompts"), "prompts"),
    negativePrompts: strings(get(n, "negative_prompts"), "prompts"),
    noiseScale: num(get(n, "noise_scale"), "a number"),
    residualScale: num(get(n, "residual_scale"), "a number"),
    path: n.path,
  };
}

function experts(n: YNode | undefined, what: string): ExpertConfig[] {
  if (isNull(n)) return [];
  if (n!.kind !== "seq") throw configError(n!, `expected a list of ${what}`, "E_CONFIG_TYPE");
  if (n!.items.length > MAX_EXPERTS) throw configError(n!, `${n!.items.length} ${what}, over the limit of ${MAX_EXPERTS}`);
  return n!.items.map(expert);
}

export function parseMoeConfig(text: string, file = "config"): MoeConfig {
  const root = parseYamlTree(text, file);
  if (root.kind !== "map") throw new AmalgamError("E_CONFIG", `${file}: expected a mapping at the top level of the MoE config`);
  checkKeys(root, ["base_model", "experts", "gate_mode", "dtype", "experts_per_token", "shared_experts", "architecture"]);
  const base = get(root, "base_model");
  if (isNull(base)) throw new AmalgamError("E_CONFIG", `${file}: missing "base_model"`);
  const exps = experts(get(root, "experts"), "experts");
  if (!exps.length) throw new AmalgamError("E_CONFIG", `${file}: "experts" must list at least one expert`);
  const gm = get(root, "gate_mode");
  const gateMode = isNull(gm) ? "hidden" : str(gm!, "a gate mode");
  if (!GATE_MODES.includes(gateMode as GateMode)) throw configError(gm!, `unknown gate_mode "${gateMode}"; expected one of: ${GATE_MODES.join(", ")}`);
  const ept = num(get(root, "experts_per_token"), "an integer") ?? 2;
  if (!Number.isInteger(ept)) throw configError(get(root, "experts_per_token")!, "expected an integer", "E_CONFIG_TYPE");
  const dt = get(root, "dtype");
  const arch = get(root, "architecture");
  return {
    baseModel: modelRef(base!),
    experts: exps,
    sharedExperts: experts(get(root, "shared_experts"), "shared experts"),
    gateMode: gateMode as GateMode,
    dtype: isNull(dt) ? undefined : parseConfigDType(str(dt!, "a dtype name"), where(dt!)),
    expertsPerToken: ept,
    architecture: isNull(arch) ? undefined : str(arch!, "an architecture name"),
    text,
    file,
  };
}

/**
 * MergeKit's is_bad_config, as errors. `fixQuirks`: uniform_random, like random, needs no prompts
 * (MergeKit only exempts random).
 */
export function checkMoeConfig(c: MoeConfig, options: { allowAllSame: boolean; fixQuirks: boolean }): void {
  const fail = (m: string): never => { throw new AmalgamError("E_CONFIG", `${c.file}: ${m}`); };
  if (c.expertsPerToken < 1) fail("experts_per_token must be >= 1");
  if (c.experts.length < c.expertsPerToken) fail(`experts_per_token is ${c.expertsPerToken} but there are only ${c.experts.length} experts`);
  const promptless = c.gateMode === "random" || (options.fixQuirks && c.gateMode === "uniform_random");
  if (!promptless) {
    c.experts.forEach((e, i) => {
      if (!e.positivePrompts.length) fail(`expert ${i} (${e.sourceModel.text}) has no positive_prompts, which gate_mode ${c.gateMode} needs${c.gateMode === "uniform_random" ? " (as in MergeKit; --fix-quirks lets uniform_random go without prompts)" : ""}`);
    });
    const key = (e: ExpertConfig) => JSON.stringify([e.positivePrompts, e.negativePrompts]);
    if (c.experts.length > 1 && c.experts.every((e) => key(e) === key(c.experts[0]!))) {
      fail("the positive and negative prompts are identical for all experts, which cannot route; give each expert prompts for what it should handle");
    }
    // MergeKit returns early for random gates, so only prompted gates get this check.
    if (!options.allowAllSame && c.experts.length > 1 && c.experts.every((e) => e.sourceModel.text === c.experts[0]!.sourceModel.text)) {
      fail("all experts are the same model: the MoE would cost more and answer the same; pass --i-understand-this-is-not-useful-without-training to build it for training");
    }
  }
  if (c.sharedExperts.length) {
    const has = c.sharedExperts.map((e) => e.positivePrompts.length > 0);
    if (!has.every((h) => h === has[0])) fail("give prompts to every shared expert or to none");
  }
}
