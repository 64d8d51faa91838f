// Which part of a model a tensor belongs to: before the layers (embeddings), a numbered layer, or
// after the layers (final norm, lm_head), from the model's inferred structure.
import { parseLayerName } from "../plan/structure.ts";
import type { FlatStructure } from "./flat-structure.ts";

export type GroupRole = "pre" | "layer" | "post";

export interface TensorGroup {
  readonly role: GroupRole;
  /** Layer index for role "layer", else null. */
  readonly layer: number | null;
}

/** The group of `name`; without a structure, any `<prefix>.<n>.<rest>` name is layer n. */
export function groupOf(name: string, structure: FlatStructure | undefined): TensorGroup {
  const l = parseLayerName(name);
  if (l && (structure === undefined || structure.prefix === undefined || l.prefix === structure.prefix)) return { role: "layer", layer: l.index };
  if (structure && !structure.pre.includes(name)) return { role: "post", layer: null };
  if (!structure && /(^|\.)(lm_head|norm|final_layernorm|ln_f|embed_out)(\.|$)/.test(name)) return { role: "post", layer: null };
  return { role: "pre", layer: null };
}

/** A group's key and label: "pre", "layer 3", "post". */
export function groupLabel(g: TensorGroup): string {
  return g.role === "layer" ? `layer ${g.layer}` : g.role;
}

/** Orders groups: pre, layers by index, post. */
export function compareGroups(a: TensorGroup, b: TensorGroup): number {
  const rank = (g: TensorGroup) => (g.role === "pre" ? -1 : g.role === "post" ? Number.MAX_SAFE_INTEGER : g.layer!);
  return rank(a) - rank(b);
}

/** Layer numbers as compact ranges: [0,1,2,5,7,8] -> "0-2,5,7-8". */
export function layerRanges(layers: readonly number[]): string {
  const s = [...new Set(layers)].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < s.length; ) {
    let j = i;
    while (j + 1 < s.length && s[j + 1] === s[j]! + 1) j++;
    parts.push(j > i ? `${s[i]}-${s[j]}` : String(s[i]));
    i = j + 1;
  }
  return parts.join(",");
}
