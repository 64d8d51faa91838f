// A model's fast tokenizer as files: tokenizer.json (BPE, WordPiece, WordLevel or Unigram model
// plus added tokens), tokenizer_config.json and special_tokens_map.json. Only what vocabulary
// merging needs is interpreted; everything else is kept as written.
import { AmalgamError } from "../errors.ts";
import { readJsonObject } from "../io/json-file.ts";
import type { ModelDirectory } from "../io/storage.ts";

export const TOKENIZER_JSON = "tokenizer.json";
export const TOKENIZER_CONFIG_JSON = "tokenizer_config.json";
export const SPECIAL_TOKENS_MAP_JSON = "special_tokens_map.json";

/** Vocabularies larger than this are refused: the largest published ones have ~260k entries. */
export const MAX_VOCAB_ENTRIES = 4_000_000;

export type TokenizerModelType = "BPE" | "WordPiece" | "WordLevel" | "Unigram";
const MODEL_TYPES: readonly string[] = ["BPE", "WordPiece", "WordLevel", "Unigram"];

/** An entry of tokenizer.json's `added_tokens` (the fields Transformers writes, in its order). */
export interface AddedToken {
  readonly id: number;
  readonly content: string;
  readonly single_word: boolean;
  readonly lstrip: boolean;
  readonly rstrip: boolean;
  readonly normalized: boolean;
  readonly special: boolean;
}

export interface TokenizerFiles {
  /** The model it belongs to, for messages. */
  readonly ref: string;
  /** tokenizer.json as parsed (kept whole: normalizer, pre-tokenizer, decoder, post-processor). */
  readonly json: Readonly<Record<string, unknown>>;
  readonly modelType: TokenizerModelType;
  /** The model's own vocabulary, token -> id (without added tokens). */
  readonly modelVocab: ReadonlyMap<string, number>;
  readonly added: readonly AddedToken[];
  /** tokenizer_config.json, if the model has one. */
  readonly config: Readonly<Record<string, unknown>> | undefined;
  /** special_tokens_map.json, if the model has one. */
  readonly specialTokensMap: Readonly<Record<string, unknown>> | undefined;
}

function bad(ref: string, what: string): never {
  throw new AmalgamError("E_TOKENIZER", `${ref}/${TOKENIZER_JSON}: ${what}`);
}

function isId(v: unknown): v is number {
  return typeof v === "number" && Number.isInteger(v) && v >= 0;
}

/** The model vocabulary of a parsed tokenizer.json. */
export function modelVocabulary(ref: string, model: Record<string, unknown>, type: TokenizerModelType): Map<string, number> {
  const out = new Map<string, number>();
  const vocab = model["vocab"];
  if (type === "Unigram") {
    // [[piece, score], ...]: the id is the position
    if (!Array.isArray(vocab)) bad(ref, `model.vocab of a Unigram model must be a list of [piece, score]`);
    if (vocab.length > MAX_VOCAB_ENTRIES) bad(ref, `${vocab.length} vocabulary entries, over the limit of ${MAX_VOCAB_ENTRIES}`);
    vocab.forEach((e: unknown, i) => {
      if (!Array.isArray(e) || typeof e[0] !== "string") bad(ref, `model.vocab[${i}] is not [piece, score]`);
      if (!out.has(e[0])) out.set(e[0], i);
    });
    return out;
  }
  if (typeof vocab !== "object" || vocab === null || Array.isArray(vocab)) bad(ref, `model.vocab of a ${type} model must be an object of token -> id`);
  const entries = Object.entries(vocab as Record<string, unknown>);
  if (entries.length > MAX_VOCAB_ENTRIES) bad(ref, `${entries.length} vocabulary entries, over the limit of ${MAX_VOCAB_ENTRIES}`);
  for (const [tok, id] of entries) {
    if (!isId(id)) bad(ref, `model.vocab[${JSON.stringify(tok)}] is ${JSON.stringify(id)}, expected a non-negative integer id`);
    out.set(tok, id);
  }
  return out;
}

export function parseAddedTokens(ref: string, v: unknown): AddedToken[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) bad(ref, `added_tokens must be a list`);
  if (v.length > MAX_VOCAB_ENTRIES) bad(ref, `${v.length} added tokens, over the limit of ${MAX_VOCAB_ENTRIES}`);
  return v.map((e: unknown, i) => {
    const o = e as Record<string, unknown>;
    if (typeof o !== "object" || o === null || !isId(o["id"]) || typeof o["content"] !== "string") bad(ref, `added_tokens[${i}] needs an integer "id" and a string "content"`);
    const flag = (k: string, dflt: boolean) => (typeof o[k] === "boolean" ? (o[k] as boolean) : dflt);
    const special = flag("special", false);
    return {
      id: o["id"] as number, content: o["content"] as string, single_word: flag("single_word", false), lstrip: flag("lstrip", false),
      rstrip: flag("rstrip", false), normalized: flag("normalized", !special), special,
    };
  });
}

/** Parses a tokenizer.json object already read; `ref` names the model in messages. */
export function parseTokenizerJson(ref: string, json: Record<string, unknown>, config?: Record<string, unknown>, specialTokensMap?: Record<string, unknown>): TokenizerFiles {
  const model = json["model"];
  if (typeof model !== "object" || model === null || Array.isArray(model)) bad(ref, `no "model" object`);
  const m = model as Record<string, unknown>;
  let type = m["type"];
  // Old files may omit the type: a list vocabulary is Unigram, merges mean BPE.
  if (type === undefined) type = Array.isArray(m["vocab"]) ? "Unigram" : m["merges"] !== undefined ? "BPE" : undefined;
  if (typeof type !== "string" || !MODEL_TYPES.includes(type)) bad(ref, `model type ${JSON.stringify(type)} is not one of ${MODEL_TYPES.join(", ")}`);
  const t = type as TokenizerModelType;
  return { ref, json, modelType: t, modelVocab: modelVocabulary(ref, m, t), added: parseAddedTokens(ref, json["added_tokens"]), config, specialTokensMap };
}

/** Reads a model's tokenizer files; undefined when it has no tokenizer.json. */
export async function readTokenizerFiles(dir: ModelDirectory): Promise<TokenizerFiles | undefined> {
  if (!(await dir.has(TOKENIZER_JSON))) return undefined;
  const json = await readJsonObject(dir, TOKENIZER_JSON);
  const config = (await dir.has(TOKENIZER_CONFIG_JSON)) ? await readJsonObject(dir, TOKENIZER_CONFIG_JSON) : undefined;
  const special = (await dir.has(SPECIAL_TOKENS_MAP_JSON)) ? await readJsonObject(dir, SPECIAL_TOKENS_MAP_JSON) : undefined;
  return parseTokenizerJson(dir.ref, json, config, special);
}

/** Transformers' `get_vocab()`: the model vocabulary with the added tokens over it. */
export function fullVocabulary(t: TokenizerFiles): Map<string, number> {
  const out = new Map(t.modelVocab);
  for (const a of t.added) out.set(a.content, a.id);
  return out;
}
