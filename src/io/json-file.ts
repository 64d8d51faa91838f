// Small JSON side files of a model (config.json, indexes): size checked before reading, parsed
// by the bounded parser, failures an AmalgamError with the caller's code naming the file.
import { AmalgamError } from "../errors.ts";
import type { ErrorCode } from "../errors.ts";
import { DEFAULT_JSON_LIMITS, parseBoundedJson } from "./bounded-json.ts";
import type { JsonValue } from "./bounded-json.ts";
import { readAll } from "./storage.ts";
import type { ModelDirectory } from "./storage.ts";

/** JSON side files (config.json, indexes) larger than this are refused: the largest real indexes are ~5 MiB. */
export const MAX_JSON_FILE_BYTES = 64 * 1024 * 1024;

/**
 * Reads `name` from `dir` as a JSON object; the size is checked before anything is read. Syntax
 * and limit errors are E_MODEL_CONFIG "not valid JSON (where and why)". `numberTexts` receives the
 * text of every number by JSON path (parseBoundedJson).
 */
export async function readJsonObject(dir: ModelDirectory, name: string, code: ErrorCode = "E_MODEL_CONFIG", numberTexts?: Map<string, string>): Promise<{ [key: string]: JsonValue }> {
  const file = `${dir.ref}/${name}`;
  const src = await dir.open(name);
  if (src.size > MAX_JSON_FILE_BYTES) {
    throw new AmalgamError(code, `${file}: ${src.size} bytes, over the ${MAX_JSON_FILE_BYTES}-byte limit for JSON files`);
  }
  const bytes = await readAll(src);
  let v: JsonValue;
  try {
    v = parseBoundedJson(bytes, file, code, { ...DEFAULT_JSON_LIMITS, maxLength: MAX_JSON_FILE_BYTES }, numberTexts);
  } catch (e) {
    if (!(e instanceof AmalgamError)) throw e;
    throw new AmalgamError(code, `${file}: not valid JSON (${e.message.slice(file.length + 2)})`);
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw new AmalgamError(code, `${file}: expected a JSON object`);
  return v;
}
