// A one-module view of a model's structure for the inspection commands: names of pre- and
// post-layer weights the checkpoint has, and per layer the weight templates.
import type { ModelFiles } from "../io/model-files.ts";
import { layerWeightName } from "../plan/structure.ts";
import type { ModelStructure, ModuleStructure, WeightInfo } from "../plan/structure.ts";

export interface FlatStructure {
  readonly numLayers: number;
  readonly layerCountKey: string | undefined;
  readonly prefix: string | undefined;
  /** Pre- and post-layer weight names present in the checkpoint (or required by the layout). */
  readonly pre: readonly string[];
  readonly post: readonly string[];
  /** Per layer, its weight templates (turn into names with `layerName`). */
  readonly layers: ReadonlyArray<readonly string[]>;
  readonly module: ModuleStructure;
}

function present(files: ModelFiles, ws: readonly WeightInfo[]): string[] {
  return ws.filter((w) => !w.optional || files.tensors.has(w.name) || w.aliases.some((a) => files.tensors.has(a))).map((w) => w.name);
}

/** The first module of `s` (the text decoder of single-module models). */
export function flatStructure(s: ModelStructure, files: ModelFiles): FlatStructure {
  const m = s.modules[0]!;
  return {
    numLayers: m.numLayers,
    layerCountKey: m.layerCountKey,
    prefix: m.prefix,
    pre: present(files, m.pre),
    post: present(files, m.post),
    layers: m.layers.map((ws) => ws.map((w) => w.name)),
    module: m,
  };
}

/** A layer weight's tensor name at `layer`. */
export function layerName(f: FlatStructure, template: string, layer: number): string {
  return layerWeightName(f.module, template, layer);
}
