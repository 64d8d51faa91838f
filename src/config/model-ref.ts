import { AmalgamError } from "../errors.ts";
import type { ModelRef } from "./types.ts";

function splitRevision(part: string, whole: string, where: string): { path: string; revision: string | undefined } {
  const at = part.split("@");
  if (at.length > 2) throw new AmalgamError("E_CONFIG", `${where}: model reference "${whole}" has more than one "@" in "${part}"`);
  const path = at[0]!;
  if (!path) throw new AmalgamError("E_CONFIG", `${where}: model reference "${whole}" has an empty path`);
  const revision = at[1];
  if (revision === "") throw new AmalgamError("E_CONFIG", `${where}: model reference "${whole}" has an empty revision after "@"`);
  return { path, revision };
}

/** Parses MergeKit's `path[@revision][+lora_path[@revision]]` syntax. */
export function parseModelRef(text: string, where: string): ModelRef {
  const t = text.trim();
  if (!t) throw new AmalgamError("E_CONFIG", `${where}: empty model reference`);
  const plus = t.split("+");
  if (plus.length > 2) throw new AmalgamError("E_CONFIG", `${where}: model reference "${t}" has more than one "+"`);
  const model = splitRevision(plus[0]!, t, where);
  const lora = plus[1] !== undefined ? splitRevision(plus[1], t, where) : undefined;
  return { path: model.path, revision: model.revision, lora, text: t };
}

export function modelRefKey(ref: ModelRef): string {
  return ref.text;
}
