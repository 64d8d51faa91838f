// A model directory's tensors: config.json plus one safetensors file or shards listed by
// model.safetensors.index.json, or else PyTorch's pytorch_model.bin[.index.json] (MergeKit's
// lookup order). Only headers are read here; tensor data is read on demand.
import { AmalgamError } from "../errors.ts";
import { readTorchCheckpoint } from "../pytorch/torch-checkpoint.ts";
import { readJsonObject } from "./json-file.ts";
import { readSafetensorsHeader } from "./safetensors-header.ts";
import type { TensorEntry } from "./safetensors-header.ts";
import type { ByteSource, ModelDirectory } from "./storage.ts";

export const SAFETENSORS_FILE = "model.safetensors";
export const SAFETENSORS_INDEX = "model.safetensors.index.json";
export const PYTORCH_FILE = "pytorch_model.bin";
export const PYTORCH_INDEX = "pytorch_model.bin.index.json";
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
  /**
   * The text of every number in config.json by JSON path (jsonPathKey), so that the output's
   * config.json writes them back as Python wrote them (`10000.0` stays a float).
   */
  readonly configNumbers?: ReadonlyMap<string, string>;
  readonly tensors: ReadonlyMap<string, ModelTensor>;
  /** Set when the model is this one file of `dir` (mergekit-pytorch inputs), not the whole directory. */
  readonly singleFile?: string;
}

/**
 * A shard name from an index must be a plain file name inside the model directory, ending in the
 * index's extension (`.safetensors`, or `.bin` for pytorch_model.bin.index.json):
 * no separators, no `..`, no drive letters, no control characters.
 */
export function checkShardName(name: string, where: string, extension = ".safetensors"): void {
  if (!name || name === "." || name === ".." || /[\/\\:\u0000-\u001f\u007f]/.test(name) || name.startsWith(".")) {
    throw new AmalgamError("E_INDEX", `${where}: shard name ${JSON.stringify(name)} is not a plain file name`);
  }
  if (new TextEncoder().encode(name).length > MAX_SHARD_NAME_BYTES) {
    throw new AmalgamError("E_INDEX", `${where}: shard name is longer than ${MAX_SHARD_NAME_BYTES} bytes`);
  }
  if (!name.endsWith(extension)) {
    throw new AmalgamError("E_INDEX", `${where}: shard name ${JSON.stringify(name)} does not end in ${extension}`);
  }
}

/**
 * The tensor table of one weights file: safetensors, or a PyTorch `.bin` (torch.save zip; the
 * pickle is parsed without executing anything). `where` names the file in messages.
 */
export async function readTensorTable(where: string, name: string, source: ByteSource): Promise<ReadonlyMap<string, TensorEntry>> {
  if (name.endsWith(".bin") || name.endsWith(".pt") || name.endsWith(".pth")) return (await readTorchCheckpoint(where, source)).tensors;
  return (await readSafetensorsHeader(where, source)).tensors;
}

async function readWeightMap(dir: ModelDirectory, indexName: string): Promise<{ weightMap: Record<string, unknown>; files: string[] }> {
  const index = await readJsonObject(dir, indexName);
  const wm = index["weight_map"];
  if (typeof wm !== "object" || wm === null || Array.isArray(wm)) {
    throw new AmalgamError("E_INDEX", `${dir.ref}/${indexName}: "weight_map" is missing or not an object`);
  }
  const weightMap = wm as Record<string, unknown>;
  const count = Object.keys(weightMap).length;
  if (count === 0) throw new AmalgamError("E_INDEX", `${dir.ref}/${indexName}: "weight_map" lists no tensors`);
  if (count > MAX_INDEX_ENTRIES) throw new AmalgamError("E_INDEX", `${dir.ref}/${indexName}: "weight_map" lists ${count} tensors, over the limit of ${MAX_INDEX_ENTRIES}`);
  const set = new Set<string>();
  for (const [t, f] of Object.entries(weightMap)) {
    if (typeof f !== "string") throw new AmalgamError("E_INDEX", `${dir.ref}/${indexName}: weight_map[${JSON.stringify(t)}] is not a file name`);
    if (set.has(f)) continue;
    checkShardName(f, `${dir.ref}/${indexName}: weight_map[${JSON.stringify(t)}]`, indexName === PYTORCH_INDEX ? ".bin" : ".safetensors");
    set.add(f);
    if (set.size > MAX_SHARDS) throw new AmalgamError("E_INDEX", `${dir.ref}/${indexName}: more than ${MAX_SHARDS} shard files, over the limit`);
  }
  if (set.size > MAX_SHARDS) throw new AmalgamError("E_INDEX", `${dir.ref}/${indexName}: ${set.size} shards, over the limit of ${MAX_SHARDS}`);
  return { weightMap, files: [...set] };
}

export async function openModelFiles(dir: ModelDirectory): Promise<ModelFiles> {
  if (!(await dir.has("config.json"))) {
    throw new AmalgamError("E_MODEL_NOT_FOUND", `${dir.ref}: no config.json (is this a Hugging Face model directory?)`);
  }
  const configNumbers = new Map<string, string>();
  const config = await readJsonObject(dir, "config.json", "E_MODEL_CONFIG", configNumbers);
  const tensors = new Map<string, ModelTensor>();
  let files: string[];
  let weightMap: Record<string, unknown> | undefined;
  let indexName: string | undefined;
  if (await dir.has(SAFETENSORS_INDEX)) {
    indexName = SAFETENSORS_INDEX;
  } else if (await dir.has(SAFETENSORS_FILE)) {
    files = [SAFETENSORS_FILE];
  } else if (await dir.has(PYTORCH_INDEX)) {
    indexName = PYTORCH_INDEX;
  } else if (await dir.has(PYTORCH_FILE)) {
    files = [PYTORCH_FILE];
  } else {
    throw new AmalgamError("E_MODEL_NOT_FOUND", `${dir.ref}: no ${SAFETENSORS_FILE}, ${SAFETENSORS_INDEX}, ${PYTORCH_FILE} or ${PYTORCH_INDEX}`);
  }
  if (indexName) ({ weightMap, files } = await readWeightMap(dir, indexName));
  for (const file of files!) {
    const source = await dir.open(file);
    const table = await readTensorTable(`${dir.ref}/${file}`, file, source);
    for (const [name, entry] of table) {
      if (weightMap && (!Object.hasOwn(weightMap, name) || weightMap[name] !== file)) continue; // the index decides which shard holds a name
      if (tensors.has(name)) throw new AmalgamError("E_SAFETENSORS", `${dir.ref}: tensor ${JSON.stringify(name)} appears in both ${tensors.get(name)!.file} and ${file}`);
      tensors.set(name, { ...entry, file, source });
    }
  }
  if (weightMap) {
    for (const [name, file] of Object.entries(weightMap)) {
      if (!tensors.has(name)) throw new AmalgamError("E_INDEX", `${dir.ref}/${indexName}: lists ${JSON.stringify(name)} in ${String(file)}, which does not contain it`);
    }
  }
  return { dir, config, configNumbers, tensors };
}
