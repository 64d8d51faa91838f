// A model directory's tensors: config.json plus one safetensors file or shards listed by
// model.safetensors.index.json. Only headers are read here; tensor data is read on demand.
import { AmalgamError } from "../errors.ts";
import { readJsonObject } from "./json-file.ts";
import { readSafetensorsHeader } from "./safetensors-header.ts";
import type { TensorEntry } from "./safetensors-header.ts";
import type { ByteSource, ModelDirectory } from "./storage.ts";

export const SAFETENSORS_FILE = "model.safetensors";
export const SAFETENSORS_INDEX = "model.safetensors.index.json";
/** More shards than this in one index is refused (the largest checkpoints have a few hundred). */
export const MAX_SHARDS = 100_000;
/** More tensor names than this in one index is refused (largest known checkpoints have < 50k). */
export const MAX_INDEX_ENTRIES = 1_000_000;
/** Longest shard file name accepted: NAME_MAX on Linux and macOS. */
export const MAX_SHARD_NAME_BYTES = 255;

export interface ModelTensor extends TensorEntry {
  readonly file: string;
  readonly source: ByteSource;
}

export interface ModelFiles {
  readonly dir: ModelDirectory;
  readonly config: Readonly<Record<string, unknown>>;
  readonly tensors: ReadonlyMap<string, ModelTensor>;
}

/**
 * A shard name from an index must be a plain `*.safetensors` file name inside the model directory:
 * no separators, no `..`, no drive letters, no control characters.
 */
export function checkShardName(name: string, where: string): void {
  if (!name || name === "." || name === ".." || /[\/\\:\u0000-\u001f\u007f]/.test(name) || name.startsWith(".")) {
    throw new AmalgamError("E_INDEX", `${where}: shard name ${JSON.stringify(name)} is not a plain file name`);
  }
  if (new TextEncoder().encode(name).length > MAX_SHARD_NAME_BYTES) {
    throw new AmalgamError("E_INDEX", `${where}: shard name is longer than ${MAX_SHARD_NAME_BYTES} bytes`);
  }
  if (!name.endsWith(".safetensors")) {
    throw new AmalgamError("E_INDEX", `${where}: shard name ${JSON.stringify(name)} does not end in .safetensors`);
  }
}

export async function openModelFiles(dir: ModelDirectory): Promise<ModelFiles> {
  if (!(await dir.has("config.json"))) {
    throw new AmalgamError("E_MODEL_NOT_FOUND", `${dir.ref}: no config.json (is this a Hugging Face model directory?)`);
  }
  const config = await readJsonObject(dir, "config.json");
  const tensors = new Map<string, ModelTensor>();
  let files: string[];
  const indexed = await dir.has(SAFETENSORS_INDEX);
  let weightMap: Record<string, unknown> | undefined;
  if (indexed) {
    const index = await readJsonObject(dir, SAFETENSORS_INDEX);
    const wm = index["weight_map"];
    if (typeof wm !== "object" || wm === null || Array.isArray(wm)) {
      throw new AmalgamError("E_INDEX", `${dir.ref}/${SAFETENSORS_INDEX}: "weight_map" is missing or not an object`);
    }
    weightMap = wm as Record<string, unknown>;
    const count = Object.keys(weightMap).length;
    if (count === 0) throw new AmalgamError("E_INDEX", `${dir.ref}/${SAFETENSORS_INDEX}: "weight_map" lists no tensors`);
    if (count > MAX_INDEX_ENTRIES) throw new AmalgamError("E_INDEX", `${dir.ref}/${SAFETENSORS_INDEX}: "weight_map" lists ${count} tensors, over the limit of ${MAX_INDEX_ENTRIES}`);
    const set = new Set<string>();
    for (const [t, f] of Object.entries(weightMap)) {
      if (typeof f !== "string") throw new AmalgamError("E_INDEX", `${dir.ref}/${SAFETENSORS_INDEX}: weight_map[${JSON.stringify(t)}] is not a file name`);
      if (set.has(f)) continue;
      checkShardName(f, `${dir.ref}/${SAFETENSORS_INDEX}: weight_map[${JSON.stringify(t)}]`);
      set.add(f);
      if (set.size > MAX_SHARDS) throw new AmalgamError("E_INDEX", `${dir.ref}/${SAFETENSORS_INDEX}: more than ${MAX_SHARDS} shard files, over the limit`);
    }
    files = [...set];
  } else if (await dir.has(SAFETENSORS_FILE)) {
    files = [SAFETENSORS_FILE];
  } else if ((await dir.has("pytorch_model.bin")) || (await dir.has("pytorch_model.bin.index.json"))) {
    throw new AmalgamError("E_UNSUPPORTED", `${dir.ref}: PyTorch .bin checkpoints are not supported yet; convert to safetensors first`);
  } else {
    throw new AmalgamError("E_MODEL_NOT_FOUND", `${dir.ref}: no ${SAFETENSORS_FILE} or ${SAFETENSORS_INDEX}`);
  }
  for (const file of files) {
    const source = await dir.open(file);
    const header = await readSafetensorsHeader(`${dir.ref}/${file}`, source);
    for (const [name, entry] of header.tensors) {
      if (weightMap && (!Object.hasOwn(weightMap, name) || weightMap[name] !== file)) continue; // the index decides which shard holds a name
      if (tensors.has(name)) throw new AmalgamError("E_SAFETENSORS", `${dir.ref}: tensor ${JSON.stringify(name)} appears in both ${tensors.get(name)!.file} and ${file}`);
      tensors.set(name, { ...entry, file, source });
    }
  }
  if (weightMap) {
    for (const [name, file] of Object.entries(weightMap)) {
      if (!tensors.has(name)) throw new AmalgamError("E_INDEX", `${dir.ref}/${SAFETENSORS_INDEX}: lists ${JSON.stringify(name)} in ${String(file)}, which does not contain it`);
    }
  }
  return { dir, config, tensors };
}
