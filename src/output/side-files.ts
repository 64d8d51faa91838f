// Tokenizer and generation files copied from the donor model (MergeKit's --copy-tokenizer).
import type { ModelDirectory } from "../io/storage.ts";

export const TOKENIZER_FILES = [
  "tokenizer_config.json", "special_tokens_map.json", "tokenizer.json", "tokenizer.model", "added_tokens.json",
  "merges.txt", "chat_template.jinja", "generation_config.json", "chat_template.json", "video_preprocessor_config.json",
] as const;

/** Side files larger than this are refused (tokenizer.json of large vocabularies is ~20 MiB). */
export const MAX_SIDE_FILE_BYTES = 256 * 1024 * 1024;

/** The donor's tokenizer files that exist, or [] when it has no complete tokenizer. */
export async function tokenizerFilesToCopy(dir: ModelDirectory): Promise<string[]> {
  const has = async (n: string) => dir.has(n);
  if (!(await has("tokenizer_config.json")) || !((await has("tokenizer.json")) || (await has("tokenizer.model")))) return [];
  const out: string[] = [];
  for (const f of TOKENIZER_FILES) if (await has(f)) out.push(f);
  return out;
}
