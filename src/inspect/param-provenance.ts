// Where a parameter's value came from: which precedence level of the config (per model, per slice,
// global), which filter matched, which gradient was interpolated; or the method's default. Follows
// the planner's lookup (src/plan/build-plan.ts) level by level, so `explain` can say why.
import { filterMatches, interpolate } from "../config/evaluate.ts";
import type { MergeConfig, ParameterMap } from "../config/types.ts";
import { parseLayerName } from "../plan/structure.ts";
import type { PlannedTensor } from "../plan/types.ts";

export interface ParamOrigin {
  /** "config": set by the config; "default": the method's default; "unset": neither. */
  readonly kind: "config" | "default" | "unset";
  /** Config path of the setting that applied (`models[0].parameters.weight`), else null. */
  readonly path: string | null;
  /** The filter of the conditional entry that matched, null for a plain value or an unfiltered entry. */
  readonly filter: string | null;
  /** The gradient list that was interpolated at the tensor's t, null for a scalar. */
  readonly gradient: readonly number[] | null;
  /** The value this origin gives (equals the plan's value). */
  readonly value: number | null;
}

/** One parameter resolved through the precedence levels, first match wins. */
export function originOf(levels: readonly (ParameterMap | undefined)[], name: string, tensor: string, t: number, fallback: number | undefined): ParamOrigin {
  for (const level of levels) {
    const e = level?.get(name);
    if (!e) continue;
    const s = e.setting;
    if (s.kind === "value") {
      return { kind: "config", path: e.path, filter: null, gradient: typeof s.value === "number" ? null : s.value, value: interpolate(s.value, t) };
    }
    for (let i = 0; i < s.items.length; i++) {
      const c = s.items[i]!;
      if (!filterMatches(c.filter, tensor)) continue;
      return { kind: "config", path: `${e.path}[${i}]`, filter: c.filter ?? null, gradient: typeof c.value === "number" ? null : c.value, value: interpolate(c.value, t) };
    }
  }
  return fallback === undefined ? { kind: "unset", path: null, filter: null, gradient: null, value: null } : { kind: "default", path: null, filter: null, gradient: null, value: fallback };
}

export interface TensorLevels {
  /** Per source (in the tensor's source order): [model level, slice level, global level]. */
  readonly perModel: readonly (readonly (ParameterMap | undefined)[])[];
  /** [slice level, global level]. */
  readonly global: readonly (ParameterMap | undefined)[];
  /** The name per-model parameters were looked up with (the input name before a tied-embedding fallback). */
  readonly inputNames: readonly string[];
}

const EMPTY: ParameterMap = new Map();

/** The slice of the config that produced a planned tensor (as the planner numbers output layers). */
export function sliceIndexOf(config: MergeConfig, t: PlannedTensor): number {
  if (!config.slices) return 0;
  if (t.role === "pre") return 0;
  if (t.role === "post") return config.slices.length - 1;
  const layer = parseLayerName(t.name)?.index ?? 0;
  let start = 0;
  for (let i = 0; i < config.slices.length; i++) {
    const r = config.slices[i]!.sources[0]?.layerRange;
    const len = r ? r[1] - r[0] : 0;
    if (layer < start + len) return i;
    start += len;
  }
  return config.slices.length - 1;
}

export function levelsOf(config: MergeConfig, t: PlannedTensor): TensorLevels {
  const inputNames = t.sources.map((s) => (t.role === "layer" ? s.tensor.name : t.name));
  if (config.models) {
    // sources: config.models in order, then the base model when it is not listed (no parameters)
    const perModel = t.sources.map((_, i) => [config.models![i]?.parameters ?? EMPTY, EMPTY, config.parameters]);
    return { perModel, global: [EMPTY, config.parameters], inputNames };
  }
  const slice = config.slices![sliceIndexOf(config, t)]!;
  const perModel = t.sources.map((_, i) => [slice.sources[i]?.parameters ?? EMPTY, slice.parameters, config.parameters]);
  return { perModel, global: [slice.parameters, config.parameters], inputNames };
}
