import { AmalgamError } from "../errors.ts";
import type { ModelDirectory } from "./storage.ts";

/** JSON side files (config.json, indexes) larger than this are refused. */
export const MAX_JSON_FILE_BYTES = 64 * 1024 * 1024;

export async function readJsonObject(dir: ModelDirectory, name: string): Promise<Record<string, unknown>> {
  const bytes = await dir.readFile(name);
  if (bytes.length > MAX_JSON_FILE_BYTES) {
    throw new AmalgamError("E_MODEL_CONFIG", `${dir.ref}/${name}: ${bytes.length} bytes, over the ${MAX_JSON_FILE_BYTES}-byte limit for JSON files`);
  }
  let v: unknown;
  try {
    v = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch (e) {
    throw new AmalgamError("E_MODEL_CONFIG", `${dir.ref}/${name}: not valid JSON (${(e as Error).message})`);
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) {
    throw new AmalgamError("E_MODEL_CONFIG", `${dir.ref}/${name}: expected a JSON object`);
  }
  return v as Record<string, unknown>;
}
