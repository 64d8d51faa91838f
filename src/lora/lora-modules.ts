// Which modules extract-lora decomposes, saves at full rank or skips, decided as
// mergekit-extract-lora decides (scripts/extract_lora.py, plan_extraction), with modules read from
// tensor names instead of an instantiated transformers model: every `<module>.weight` is a module;
// 2-D weights are linear layers, except the input embeddings (nn.Embedding) and the output head.
import { parseLayerName } from "../plan/structure.ts";

/** nn.Embedding modules, by their last name component. */
const EMBEDDING_RE = /(^|\.)(embed_tokens|embed_in|wte|wpe|word_embeddings|position_embeddings|token_type_embeddings|embed_positions|shared)$/;
/** The output embedding (get_output_embeddings). */
const OUTPUT_RE = /(^|\.)(lm_head|embed_out)$/;

export type ModuleAction =
  /** Decomposed into lora_A / lora_B (`transpose`: embedding layout lora_embedding_A/B). */
  | { readonly kind: "lora"; readonly transpose: boolean }
  /** Copied from the fine-tuned model at full rank (modules_to_save). */
  | { readonly kind: "save" }
  | { readonly kind: "skip"; readonly reason: string };

export interface ModulePlan {
  readonly module: string;
  readonly weight: string;
  readonly bias: string | undefined;
  readonly shape: readonly number[];
  readonly action: ModuleAction;
}

export interface ModuleSelection {
  readonly modules: readonly ModulePlan[];
  /** modules_to_save of the adapter config: --save-module names, then keys added on the way. */
  readonly modulesToSave: readonly string[];
  readonly warnings: readonly string[];
}

export interface SelectOptions {
  readonly embedLora: boolean;
  readonly saveModules: readonly string[];
  readonly include: readonly RegExp[];
  readonly exclude: readonly RegExp[];
  readonly skipUndecomposable: boolean;
}

export function isInputEmbedding(module: string): boolean {
  return EMBEDDING_RE.test(module);
}

export function isOutputEmbedding(module: string): boolean {
  return OUTPUT_RE.test(module);
}

function lastKey(module: string): string {
  return module.slice(module.lastIndexOf(".") + 1);
}

/**
 * Modules in the order transformers registers them, as far as names tell: modules outside the
 * layers first (embeddings), then layer by layer, then the rest (final norm), the output head last.
 */
export function moduleOrder(names: Iterable<string>): string[] {
  const mods = [...new Set([...names].filter((n) => n.endsWith(".weight")).map((n) => n.slice(0, -".weight".length)))];
  const rank = (m: string): [number, number, string] => {
    const l = parseLayerName(`${m}.weight`);
    if (l) return [1, l.index, m];
    if (isOutputEmbedding(m)) return [3, 0, m];
    if (isInputEmbedding(m)) return [0, 0, m];
    return [2, 0, m];
  };
  return mods.sort((a, b) => {
    const x = rank(a), y = rank(b);
    return x[0] - y[0] || x[1] - y[1] || (x[2] < y[2] ? -1 : x[2] > y[2] ? 1 : 0);
  });
}

/** Plans every module of the fine-tuned model (`shapes`: tensor name to shape). */
export function selectModules(shapes: ReadonlyMap<string, readonly number[]>, options: SelectOptions): ModuleSelection {
  const modulesToSave = [...options.saveModules];
  const warnings: string[] = [];
  const warned = new Set<string>();
  const excluded = (name: string) => options.exclude.some((r) => r.test(name));
  const shouldExtract = (name: string) => (options.include.length === 0 || options.include.some((r) => r.test(name))) && !excluded(name);
  const out: ModulePlan[] = [];
  for (const module of moduleOrder(shapes.keys())) {
    const weight = `${module}.weight`;
    const shape = shapes.get(weight)!;
    const bias = shapes.has(`${module}.bias`) ? `${module}.bias` : undefined;
    const key = lastKey(module);
    const embedding = isInputEmbedding(module) && shape.length === 2;
    const output = isOutputEmbedding(module) && shape.length === 2;
    if (!options.embedLora && (embedding || output) && !excluded(module) && !modulesToSave.includes(key)) {
      warnings.push(`adding ${key} to modules_to_save (embeddings are saved at full rank unless --embed-lora)`);
      modulesToSave.push(key);
    }
    let action: ModuleAction;
    if (modulesToSave.includes(module) || modulesToSave.includes(key)) {
      action = { kind: "save" };
    } else if (!shouldExtract(module)) {
      action = { kind: "skip", reason: "not selected by --include-regex/--exclude-regex" };
    } else if (shape.length === 2) {
      action = { kind: "lora", transpose: embedding };
    } else {
      const message = `${key} has unsupported module type (a ${shape.length}-D weight) - ${options.skipUndecomposable ? "skipping" : "saving at full rank"}`;
      if (!warned.has(key)) { warned.add(key); warnings.push(message); }
      if (options.skipUndecomposable) action = { kind: "skip", reason: "--skip-undecomposable" };
      else {
        if (!modulesToSave.includes(key)) modulesToSave.push(key);
        action = { kind: "save" };
      }
    }
    out.push({ module, weight, bias, shape, action });
  }
  return { modules: out, modulesToSave, warnings };
}
