// mergekit-multi's configuration: a multi-document YAML file whose documents are merge configs
// with an optional `name:`. A named document's output goes to <intermediate-dir>/<name>; at most one
// document is unnamed (the final merge, written to --out-path). A model reference whose path is a
// document's name is rewritten to that intermediate directory and becomes a dependency.
import { parseAllDocuments } from "yaml";
import { parseMergeConfig } from "../config/parse-config.ts";
import type { MergeConfig, ModelRef, SliceConfig, SourceConfig } from "../config/types.ts";
import { MAX_CONFIG_BYTES } from "../config/yaml-tree.ts";
import { AmalgamError } from "../errors.ts";

/** More documents than this are refused (a recipe has a handful). */
export const MAX_DOCUMENTS = 1000;

export interface MergeStage {
  /** The document's `name:`; undefined for the final (unnamed) merge. */
  readonly name: string | undefined;
  /** 0-based position of the document in the file. */
  readonly index: number;
  /** The config with references to other stages rewritten to their output directories. */
  readonly config: MergeConfig;
  /** Names of the stages this one reads, in first-use order. */
  readonly dependencies: readonly string[];
}

export interface MultiConfig {
  readonly file: string;
  /** Stages in document order. */
  readonly stages: readonly MergeStage[];
}

/** How a stage is named in messages. */
export function stageLabel(s: { name: string | undefined }): string {
  return s.name === undefined ? "the final (unnamed) merge" : `"${s.name}"`;
}

function refText(path: string, ref: ModelRef): string {
  const rev = ref.revision !== undefined ? `@${ref.revision}` : "";
  const lora = ref.lora ? `+${ref.lora.path}${ref.lora.revision !== undefined ? `@${ref.lora.revision}` : ""}` : "";
  return `${path}${rev}${lora}`;
}

/**
 * Parses a multi-document config. `joinPath(dir, name)` builds an intermediate directory's path
 * the way the host spells paths (it is what later stages resolve).
 */
export function parseMultiConfig(text: string, file: string, intermediateDir: string, joinPath: (dir: string, name: string) => string): MultiConfig {
  if (text.length > MAX_CONFIG_BYTES) throw new AmalgamError("E_CONFIG", `${file}: config is ${text.length} bytes, over the ${MAX_CONFIG_BYTES}-byte limit`);
  const parsed = parseAllDocuments(text, { version: "1.1" });
  const docs = Array.isArray(parsed) ? parsed : [];
  if (docs.length > MAX_DOCUMENTS) throw new AmalgamError("E_CONFIG", `${file}: ${docs.length} documents, over the limit of ${MAX_DOCUMENTS}`);
  const raw: { name: string | undefined; index: number; config: MergeConfig }[] = [];
  const seen = new Set<string | undefined>();
  docs.forEach((doc, index) => {
    const [start, , end] = doc.range;
    const lines = text.slice(0, start).split("\n").length - 1;
    const body = text.slice(start, end);
    const where = `${file} (document ${index + 1})`;
    if (doc.errors.length === 0 && doc.toJS() == null) return; // an empty document (a trailing ---)
    // Padding keeps the line numbers of messages those of the whole file.
    const config = parseMergeConfig("\n".repeat(lines) + body, where);
    const nameNode = doc.errors.length === 0 ? (doc.toJS() as Record<string, unknown>)["name"] : undefined;
    let name: string | undefined;
    if (nameNode !== undefined && nameNode !== null) {
      if (typeof nameNode !== "string" && typeof nameNode !== "number") throw new AmalgamError("E_CONFIG_TYPE", `${where}: "name" must be a string`);
      name = String(nameNode);
      if (!name || name.startsWith("/") || name.split(/[\\/]/).some((p) => p === ".." || p === "." || p === "")) {
        throw new AmalgamError("E_CONFIG", `${where}: name ${JSON.stringify(name)} must be a relative directory name inside the intermediate directory`);
      }
    }
    if (seen.has(name)) {
      throw new AmalgamError("E_CONFIG", name === undefined ? `${where}: more than one unnamed merge; only the final merge may omit "name"` : `${where}: duplicate merge name "${name}"`);
    }
    seen.add(name);
    // The stage's own config text, without the document marker and its `name:` (MergeKit pops it).
    const own = body.replace(/^---[^\n]*\n/, "").replace(/^name:[^\n]*\n/m, "");
    raw.push({ name, index, config: { ...config, text: own } });
  });
  if (raw.length === 0) throw new AmalgamError("E_CONFIG", `${file}: no merge documents`);
  const names = new Set(raw.map((r) => r.name).filter((n): n is string => n !== undefined));
  const stages = raw.map((r) => {
    const deps: string[] = [];
    const patch = (ref: ModelRef): ModelRef => {
      if (!names.has(ref.path)) return ref;
      if (!deps.includes(ref.path)) deps.push(ref.path);
      const path = joinPath(intermediateDir, ref.path);
      return { ...ref, path, text: refText(path, ref) };
    };
    const patchSource = (s: SourceConfig): SourceConfig => ({ ...s, model: patch(s.model) });
    const patchSlice = (s: SliceConfig): SliceConfig => ({ ...s, sources: s.sources.map(patchSource), baseModel: s.baseModel && patch(s.baseModel) });
    const c = r.config;
    const config: MergeConfig = {
      ...c,
      models: c.models?.map(patchSource),
      slices: c.slices?.map(patchSlice),
      baseModel: c.baseModel && patch(c.baseModel),
    };
    return { name: r.name, index: r.index, config, dependencies: deps };
  });
  return { file, stages };
}

/**
 * Dependency order: every stage after the stages it reads, otherwise document order. A cycle is
 * an error naming a stage on it (MergeKit: "Circular dependency detected involving ...").
 */
export function orderStages(multi: MultiConfig): MergeStage[] {
  const byName = new Map(multi.stages.filter((s) => s.name !== undefined).map((s) => [s.name!, s]));
  const done = new Set<MergeStage>();
  const visiting = new Set<MergeStage>();
  const out: MergeStage[] = [];
  const visit = (s: MergeStage, path: readonly string[]) => {
    if (done.has(s)) return;
    if (visiting.has(s)) {
      const cycle = [...path.slice(path.indexOf(s.name!)), s.name!];
      throw new AmalgamError("E_CONFIG", `${multi.file}: circular dependency between merges: ${cycle.map((n) => `"${n}"`).join(" -> ")}`);
    }
    visiting.add(s);
    for (const d of s.dependencies) visit(byName.get(d)!, [...path, s.name ?? "(final)"]);
    visiting.delete(s);
    done.add(s);
    out.push(s);
  };
  for (const s of multi.stages) visit(s, []);
  return out;
}
