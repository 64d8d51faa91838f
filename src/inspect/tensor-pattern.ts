// The `--tensor PATTERN` filter: a glob (`*`, `?`) over the whole tensor name when it has wildcards,
// else a substring of the name (as MergeKit's parameter filters match).
import { AmalgamError } from "../errors.ts";

/** Patterns longer than this are refused (a tensor name is far shorter). */
export const MAX_PATTERN_LENGTH = 1000;

export function tensorMatcher(pattern: string | undefined): (name: string) => boolean {
  if (pattern === undefined) return () => true;
  if (pattern === "") throw new AmalgamError("E_ARGS", "--tensor: expected a substring or glob (e.g. self_attn or *.0.mlp.*), got an empty pattern");
  if (pattern.length > MAX_PATTERN_LENGTH) throw new AmalgamError("E_ARGS", `--tensor: pattern of ${pattern.length} characters, over the limit of ${MAX_PATTERN_LENGTH}`);
  if (!/[*?]/.test(pattern)) return (name) => name.includes(pattern);
  const re = new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".")}$`);
  return (name) => re.test(name);
}
