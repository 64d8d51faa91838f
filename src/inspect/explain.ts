// `amalgam explain`: for every output tensor of a plan, its sources, the method, every parameter
// after gradients, filters and precedence (with where it came from), and its dtypes.
import type { MergePlan } from "../plan/types.ts";
import { parseLayerName } from "../plan/structure.ts";
import { levelsOf, originOf } from "./param-provenance.ts";
import type { ParamOrigin } from "./param-provenance.ts";
import type { GroupRole } from "./layer-groups.ts";

export interface ExplainParam {
  readonly name: string;
  /** The value the merge uses (null: not set and no default). */
  readonly value: number | null;
  readonly origin: ParamOrigin;
}

export interface ExplainSource {
  readonly model: string;
  /** The input tensor read (after the tied-embedding fallback). */
  readonly tensor: string;
  /** Input layer, null outside the layers. */
  readonly layer: number | null;
  readonly base: boolean;
  readonly dtype: string;
  readonly shape: readonly number[];
  readonly params: readonly ExplainParam[];
}

export interface ExplainTensor {
  readonly name: string;
  readonly role: GroupRole;
  readonly layer: number | null;
  /** Position in its slice's gradient (0 outside the layers). */
  readonly t: number;
  readonly shape: readonly number[];
  readonly workingDtype: string;
  readonly outDtype: string;
  /** Output shard file. */
  readonly file: string;
  readonly global: readonly ExplainParam[];
  readonly sources: readonly ExplainSource[];
}

export interface ExplainReport {
  readonly config: string;
  readonly method: string;
  readonly models: readonly string[];
  readonly base: string | null;
  readonly layers: number;
  /** Output tensors in the plan (before --tensor). */
  readonly tensorsTotal: number;
  /** The tensors shown, in output order (pre, layers, post; by name within a group). */
  readonly tensors: readonly ExplainTensor[];
  readonly warnings: readonly string[];
}

export function explainPlan(plan: MergePlan, match: (name: string) => boolean = () => true): ExplainReport {
  const fileOf = new Map<string, string>();
  for (const s of plan.shards) for (const t of s.tensors) fileOf.set(t.name, s.file);
  const out: ExplainTensor[] = [];
  for (const t of plan.tensors) {
    if (!match(t.name)) continue;
    const lv = levelsOf(plan.config, t);
    const layer = t.role === "layer" ? (parseLayerName(t.name)?.index ?? null) : null;
    const global = plan.method.global.map((p) => {
      const origin = originOf(lv.global, p.name, t.name, t.t, p.default);
      return { name: p.name, value: t.global[p.name] ?? null, origin };
    });
    const sources = t.sources.map((s, i) => ({
      model: s.model.ref.text,
      tensor: s.tensor.name,
      layer: t.role === "layer" ? (parseLayerName(s.tensor.name)?.index ?? null) : null,
      base: s.isBase,
      dtype: s.tensor.dtype,
      shape: s.tensor.shape,
      params: plan.method.perModel.map((p) => ({
        name: p.name,
        value: s.params[p.name] ?? null,
        origin: originOf(lv.perModel[i]!, p.name, lv.inputNames[i]!, t.t, p.default),
      })),
    }));
    out.push({ name: t.name, role: t.role, layer, t: t.t, shape: t.shape, workingDtype: t.workingDtype, outDtype: t.outDtype, file: fileOf.get(t.name)!, global, sources });
  }
  const rank = (x: ExplainTensor) => (x.role === "pre" ? -1 : x.role === "post" ? Number.MAX_SAFE_INTEGER : x.layer ?? 0);
  out.sort((a, b) => rank(a) - rank(b) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return {
    config: plan.config.file,
    method: plan.method.name,
    models: plan.models.map((m) => m.ref.text),
    base: plan.base?.ref.text ?? null,
    layers: plan.numLayers,
    tensorsTotal: plan.tensors.length,
    tensors: out,
    warnings: plan.warnings,
  };
}
