// A model's tensor layout: the weights before the layers (embeddings, taken from the first
// slice), the weights of each layer, and the weights after them (final norm, output head, taken
// from the last slice). Known architectures get their layout from data (src/arch/data/*.json);
// others have it inferred from tensor names (`<prefix>.<layer>.<rest>`) and config.json.
import { architectureName, findArchitecture } from "../arch/registry.ts";
import { EXPERT_VAR, expandTemplate, LAYER_VAR } from "../arch/parse-architecture.ts";
import { getConfigPath } from "../arch/config-path.ts";
import { DEFAULT_MODULE } from "../arch/types.ts";
import type { ArchitectureDef, ModuleDef, WeightInfo } from "../arch/types.ts";
import { AmalgamError } from "../errors.ts";
import type { ModelFiles } from "../io/model-files.ts";

export type { WeightInfo } from "../arch/types.ts";

/** config.json keys that hold the layer count when the architecture is unknown, in lookup order. */
export const LAYER_COUNT_KEYS = ["num_hidden_layers", "n_layer", "num_layers", "n_layers"] as const;

/**
 * Layer and expert counts (from config.json or from layer indices in tensor names) above this are
 * refused before anything loops over them: the deepest published transformers have < 200 layers
 * and the largest mixtures < 400 experts.
 */
export const MAX_LAYERS = 10_000;

/** Stands for the model's own layer prefix in inferred layer templates. */
const PREFIX_VAR = "${layer_prefix}";

const LAYER_RE = /^(.*?)\.(\d+)\.(.+)$/;
const PRE_RE = /(^|\.)(embed_tokens|embed_in|wte|wpe|word_embeddings|position_embeddings|token_type_embeddings|embeddings|embed_positions)(\.|$)/;
const EMBED_RE = /(^|\.)(embed_tokens|embed_in|embed_out|wte|word_embeddings|lm_head)(\.|$)/;
const OUTPUT_HEAD_RE = /(^|\.)(lm_head|embed_out)\./;

/** At most this many unmerged tensor names are listed in a warning. */
const MAX_LISTED = 6;

export interface LayerName {
  readonly prefix: string;
  readonly index: number;
  readonly rest: string;
}

export function parseLayerName(name: string): LayerName | undefined {
  const m = LAYER_RE.exec(name);
  if (!m) return undefined;
  return { prefix: m[1]!, index: Number(m[2]), rest: m[3]! };
}

/** Embedding-like weights (vocabulary rows) by name, for layouts inferred from tensor names. */
export function isEmbedName(name: string): boolean {
  return EMBED_RE.test(name);
}

/** One module of a model: its layer count and weights. */
export interface ModuleStructure {
  readonly name: string;
  readonly numLayers: number;
  /** config.json key holding the layer count (dotted when nested; undefined when there is none). */
  readonly layerCountKey: string | undefined;
  /** The layer prefix of an inferred layout, e.g. `model.layers`. */
  readonly prefix: string | undefined;
  /** Per layer index, its weights as templates (see `layerWeightName`). */
  readonly layers: ReadonlyArray<readonly WeightInfo[]>;
  readonly pre: readonly WeightInfo[];
  readonly post: readonly WeightInfo[];
}

export interface ModelStructure {
  /** The layout's data, or undefined when inferred from tensor names. */
  readonly architecture: ArchitectureDef | undefined;
  /** The modules, in the layout's order (one, "default", for single-module models). */
  readonly modules: readonly ModuleStructure[];
  /** Tensors of the checkpoint that the layout does not cover (they are not merged). */
  readonly unused: readonly string[];
}

/** A model's module by name; throws naming the model's modules when it has no such module. */
export function moduleOf(ref: string, s: ModelStructure, name: string): ModuleStructure {
  const m = s.modules.find((x) => x.name === name);
  if (!m) throw new AmalgamError("E_CONFIG", `model ${ref} has no module "${name}" (its modules: ${s.modules.map((x) => x.name).join(", ")})`);
  return m;
}

/** A layer weight's tensor name in `s` at `layer`. */
export function layerWeightName(s: ModuleStructure, template: string, layer: number): string {
  const name = expandTemplate(template, layer);
  return s.prefix === undefined ? name : name.replaceAll(PREFIX_VAR, s.prefix);
}

function plain(name: string, isEmbed = false, tiedNames: readonly string[] = []): WeightInfo {
  return { name, isEmbed, optional: tiedNames.length > 0, aliases: [], tiedNames };
}

function configInt(files: ModelFiles, key: string): number | undefined {
  const v = getConfigPath(files.config, key);
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > MAX_LAYERS) {
    throw new AmalgamError("E_MODEL_CONFIG", `${files.dir.ref}/config.json: "${key}" is ${JSON.stringify(v)}, expected an integer from 0 to ${MAX_LAYERS}`);
  }
  return v;
}

/** The layout of a model with no architecture data: layers from names, the count from config.json. */
export function inferStructure(files: ModelFiles): ModelStructure {
  const ref = files.dir.ref;
  const byLayer = new Map<number, string[]>();
  let prefix: string | undefined;
  const preNames: string[] = [];
  const postNames: string[] = [];
  const names = [...files.tensors.keys()].sort();
  for (const name of names) {
    const l = parseLayerName(name);
    if (l && l.index >= MAX_LAYERS) {
      throw new AmalgamError("E_SAFETENSORS", `${ref}: tensor ${JSON.stringify(name)} names layer ${l.index}, over the limit of ${MAX_LAYERS} layers`);
    }
    if (l && (prefix === undefined || l.prefix === prefix)) {
      prefix = l.prefix;
      let list = byLayer.get(l.index);
      if (!list) byLayer.set(l.index, (list = []));
      list.push(l.rest);
    } else if (l) {
      throw new AmalgamError("E_UNSUPPORTED", `${ref}: tensors use two layer prefixes ("${prefix}" and "${l.prefix}"), and there is no layout data for its architecture; multi-module models need one (src/arch/data)`);
    } else if (PRE_RE.test(name)) {
      preNames.push(name);
    } else {
      postNames.push(name);
    }
  }
  const inferred = byLayer.size ? Math.max(...byLayer.keys()) + 1 : 0;
  let numLayers = inferred;
  let layerCountKey: string | undefined;
  for (const key of LAYER_COUNT_KEYS) {
    const v = configInt(files, key);
    if (v !== undefined) {
      numLayers = v;
      layerCountKey = key;
      break;
    }
  }
  if (numLayers < inferred) {
    throw new AmalgamError("E_MODEL_CONFIG", `${ref}: config.json says ${layerCountKey} = ${numLayers}, but tensors exist for layer ${inferred - 1}`);
  }
  const layers: WeightInfo[][] = [];
  for (let i = 0; i < numLayers; i++) {
    layers.push((byLayer.get(i) ?? []).map((rest) => plain(`${PREFIX_VAR}.${LAYER_VAR}.${rest}`, isEmbedName(rest))));
  }
  const embeds = preNames.filter(isEmbedName);
  const pre = preNames.map((n) => plain(n, isEmbedName(n)));
  // An output head is tied to the input embeddings: a model without one contributes those.
  const post = postNames.map((n) => (OUTPUT_HEAD_RE.test(n) ? plain(n, true, embeds) : plain(n, isEmbedName(n))));
  return { architecture: undefined, modules: [{ name: DEFAULT_MODULE, numLayers, layerCountKey, prefix, layers, pre, post }], unused: [] };
}

/** Layer templates with `${expert_index}` expanded for the model's expert count. */
function expandExperts(arch: ArchitectureDef, mod: ModuleDef, files: ModelFiles): WeightInfo[] {
  const out: WeightInfo[] = [];
  let experts: number | undefined;
  for (const w of mod.layerWeights) {
    if (!w.name.includes(EXPERT_VAR)) {
      out.push(w);
      continue;
    }
    if (experts === undefined) {
      experts = configInt(files, mod.expertCountKey!);
      if (experts === undefined) {
        throw new AmalgamError("E_MODEL_CONFIG", `${files.dir.ref}/config.json: no "${mod.expertCountKey}" (the expert count of ${arch.architectures[0]}, ${arch.source})`);
      }
    }
    for (let e = 0; e < experts; e++) {
      const x = (n: string) => n.replaceAll(EXPERT_VAR, String(e));
      out.push({ ...w, name: x(w.name), aliases: w.aliases.map(x), tiedNames: w.tiedNames.map(x) });
    }
  }
  return out;
}

/** The layout of a model under an architecture's data. */
export function structureFromArchitecture(files: ModelFiles, arch: ArchitectureDef): ModelStructure {
  const covered = new Set<string>();
  const modules = arch.modules.map((mod): ModuleStructure => {
    let numLayers = 0;
    if (mod.layerCountKey !== undefined) {
      const n = configInt(files, mod.layerCountKey);
      if (n === undefined) {
        throw new AmalgamError("E_MODEL_CONFIG", `${files.dir.ref}/config.json: no "${mod.layerCountKey}" (the layer count of ${arch.architectures[0]}${mod.name === DEFAULT_MODULE ? "" : ` module ${mod.name}`}, ${arch.source})`);
      }
      numLayers = n;
    }
    const layerWeights = expandExperts(arch, mod, files);
    for (const w of [...mod.preWeights, ...mod.postWeights]) for (const n of [w.name, ...w.aliases]) covered.add(n);
    for (let i = 0; i < numLayers; i++) {
      for (const w of layerWeights) for (const n of [w.name, ...w.aliases]) covered.add(expandTemplate(n, i));
    }
    const layers = Array.from({ length: numLayers }, () => layerWeights);
    return { name: mod.name, numLayers, layerCountKey: mod.layerCountKey, prefix: undefined, layers, pre: mod.preWeights, post: mod.postWeights };
  });
  const unused = [...files.tensors.keys()].filter((n) => !covered.has(n)).sort();
  return { architecture: arch, modules, unused };
}

export interface ResolvedLayout {
  /** The architecture every model is read with, or undefined to infer each model's from its names. */
  readonly architecture: ArchitectureDef | undefined;
  readonly warnings: readonly string[];
}

/**
 * One layout for all inputs, as MergeKit chooses it: when every model's architecture is known they
 * must agree (or `allowCrimes`, and the donor's is used); when any is unknown, layouts are inferred
 * from tensor names.
 */
export function resolveLayout(models: readonly { readonly ref: string; readonly config: Readonly<Record<string, unknown>> }[], donorIndex: number, allowCrimes: boolean): ResolvedLayout {
  const found = models.map((m) => findArchitecture(m.config));
  const unknown = models.filter((_, i) => !found[i]);
  if (unknown.length) {
    const names = [...new Set(unknown.map((m) => architectureName(m.config)))].join(", ");
    return {
      architecture: undefined,
      warnings: [`no architecture data for ${names} (${unknown.map((m) => m.ref).join(", ")}); layers are inferred from tensor names`],
    };
  }
  const donorArch = found[donorIndex]!;
  if (found.some((a) => a !== donorArch)) {
    const list = models.map((m, i) => `${m.ref}: ${found[i]!.architectures[0]} (${found[i]!.modelType})`).join(", ");
    if (!allowCrimes) {
      throw new AmalgamError("E_ARCH_MISMATCH", `the models have different architectures (${list}); pass --allow-crimes to merge them anyway`);
    }
    return { architecture: donorArch, warnings: [`merging different architectures (${list}) with --allow-crimes; every model is read with the ${donorArch.architectures[0]} layout of ${models[donorIndex]!.ref}`] };
  }
  return { architecture: donorArch, warnings: [] };
}

/** The layout of one model under the resolved layout. */
export function modelStructure(files: ModelFiles, layout: ResolvedLayout): ModelStructure {
  return layout.architecture ? structureFromArchitecture(files, layout.architecture) : inferStructure(files);
}

/** A warning naming tensors a known layout does not cover, or undefined when there are none. */
export function unusedTensorsWarning(ref: string, s: ModelStructure): string | undefined {
  if (!s.unused.length || !s.architecture) return undefined;
  const shown = s.unused.slice(0, MAX_LISTED).map((n) => `"${n}"`).join(", ");
  const more = s.unused.length > MAX_LISTED ? ` and ${s.unused.length - MAX_LISTED} more` : "";
  return `${ref}: ${s.unused.length} tensor(s) are not part of the ${s.architecture.architectures[0]} layout (${s.architecture.source}) and are not merged: ${shown}${more}`;
}
