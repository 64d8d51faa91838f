// The base model's tokenizer for cheap_embed gates, via @huggingface/tokenizers (pure JS):
// MergeKit tokenizes `(tokenizer.bos_token or "") + prompt` without adding special tokens.
import { Tokenizer } from "@huggingface/tokenizers";
import { AmalgamError } from "../errors.ts";
import { readJsonObject } from "../io/json-file.ts";
import type { ModelDirectory } from "../io/storage.ts";

function tokenText(v: unknown): string | undefined {
  if (typeof v === "string") return v;
  if (v && typeof v === "object" && typeof (v as Record<string, unknown>)["content"] === "string") return (v as Record<string, string>)["content"];
  return undefined;
}

/** `tokenize(prompt)`: the ids of `bos + prompt`. */
export async function promptTokenizer(dir: ModelDirectory): Promise<(text: string) => number[]> {
  if (!(await dir.has("tokenizer.json"))) {
    throw new AmalgamError("E_MODEL_NOT_FOUND", `${dir.ref}: no tokenizer.json, which gate_mode cheap_embed needs to tokenize the prompts`);
  }
  const json = await readJsonObject(dir, "tokenizer.json");
  const config = (await dir.has("tokenizer_config.json")) ? await readJsonObject(dir, "tokenizer_config.json") : {};
  let bos = tokenText(config["bos_token"]);
  if (bos === undefined && (await dir.has("special_tokens_map.json"))) bos = tokenText((await readJsonObject(dir, "special_tokens_map.json"))["bos_token"]);
  let tok: Tokenizer;
  try {
    tok = new Tokenizer(json, config);
  } catch (e) {
    throw new AmalgamError("E_MODEL_CONFIG", `${dir.ref}/tokenizer.json: cannot be loaded (${(e as Error).message})`);
  }
  return (text) => tok.encode((bos ?? "") + text, { add_special_tokens: false }).ids;
}
