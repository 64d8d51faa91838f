// Rules for the output directory: where each kind of run stages its files, what an existing
// directory may already hold without --overwrite, and that no output lands inside an input model.
import { AmalgamError } from "../errors.ts";
import type { ModelDirectory } from "../io/storage.ts";

/** The hidden staging folder of a one-process merge (files wait there until the commit). */
export const STAGING_DIR = ".amalgam-staging";

/** Staging folder per kind of run: parts of one merge run concurrently into the same directory. */
export function stagingName(kind: { readonly index: number; readonly count: number } | "merge" | "assemble"): string {
  if (kind === "merge") return STAGING_DIR;
  if (kind === "assemble") return `${STAGING_DIR}-assemble`;
  return `${STAGING_DIR}-part-${kind.index}-of-${kind.count}`;
}

/** Entries that never make a directory "not empty": version control and Finder's metadata. */
function ignorable(name: string): boolean {
  return name === ".git" || name === ".gitattributes" || name === ".gitignore" || name === ".DS_Store";
}

export interface OutputEntryRules {
  /** Where, for messages. */
  readonly where: string;
  readonly overwrite: boolean;
  /** For `--shard I/N`: other parts' files of the same plan are expected. */
  readonly part?: { readonly index: number; readonly count: number };
  /** The plan's shard file names. */
  readonly shardFiles: readonly string[];
}

/**
 * Refuses a non-empty output directory without --overwrite. Parts of a split merge share one
 * directory: part manifests, other parts' staging folders and the plan's shard files are allowed.
 * Returns the entries an --overwrite run leaves in place that look like model files.
 */
export function checkOutputEntries(existing: readonly string[], rules: OutputEntryRules): string[] {
  const n = rules.part?.count;
  const allowed = (name: string) =>
    ignorable(name) ||
    (n !== undefined && (
      new RegExp(`^amalgam-part-\\d+-of-${n}\\.json$`).test(name) ||
      new RegExp(`^\\${STAGING_DIR}-part-\\d+-of-${n}$`).test(name) ||
      rules.shardFiles.includes(name)));
  const others = existing.filter((e) => !allowed(e)).sort();
  if (others.length && !rules.overwrite) {
    const list = others.length > 5 ? `${others.slice(0, 5).join(", ")} and ${others.length - 5} more` : others.join(", ");
    throw new AmalgamError("E_OUTPUT_EXISTS", `${rules.where} is not empty (${list}); pass --overwrite to write into it (files of the same names are replaced, others left), or choose an empty directory`);
  }
  return others.filter((e) => (e.endsWith(".safetensors") || e.endsWith(".safetensors.index.json")) && !rules.shardFiles.includes(e));
}

function normalize(p: string): string {
  const s = p.replace(/\\/g, "/").replace(/\/+$/, "");
  return s === "" ? "/" : s;
}

/** Whether `child` is `parent` or lies inside it (canonical paths, either separator). */
export function isInside(child: string, parent: string): boolean {
  const c = normalize(child);
  const p = normalize(parent);
  return c === p || c.startsWith(p === "/" ? "/" : `${p}/`);
}

/** Refuses an output directory that is an input model's directory or lies inside one. */
export function checkOutputOutsideInputs(outPath: string | undefined, inputs: readonly { readonly ref: { readonly text: string }; readonly files: { readonly dir: ModelDirectory } }[]): void {
  if (!outPath) return;
  for (const m of inputs) {
    const inPath = m.files.dir.localPath;
    if (inPath && isInside(outPath, inPath)) {
      throw new AmalgamError("E_OUTPUT_UNSAFE", `output directory ${outPath} is ${normalize(outPath) === normalize(inPath) ? "the directory" : "inside the directory"} of input model ${m.ref.text} (${inPath}); choose a directory outside every input`);
    }
  }
}
