// What a model's tokenizer files say: a summary (type, vocabulary, special tokens, chat template)
// and, from tokenizer.json, the id -> token table that two models are compared by.
import { AmalgamError } from "../errors.ts";
import type { ModelDirectory } from "../io/storage.ts";
import { MAX_SIDE_FILE_BYTES } from "../output/side-files.ts";

/** More vocabulary entries than this in one tokenizer.json is refused (largest known: ~260k). */
export const MAX_VOCAB_ENTRIES = 10_000_000;
/** Special tokens listed in a summary. */
const MAX_LISTED_SPECIALS = 16;

export interface TokenizerSummary {
  /** Tokenizer files present. */
  readonly files: readonly string[];
  /** tokenizer.json's model type (BPE, Unigram, WordPiece, WordLevel), "sentencepiece" for tokenizer.model only, or null. */
  readonly type: string | null;
  /** Distinct token ids (model vocabulary plus added tokens), or null without tokenizer.json. */
  readonly vocabSize: number | null;
  readonly addedTokens: number;
  /** Special tokens (from added_tokens), at most 16. */
  readonly specialTokens: readonly string[];
  readonly tokenizerClass: string | null;
  readonly bos: string | null;
  readonly eos: string | null;
  readonly pad: string | null;
  readonly unk: string | null;
  readonly chatTemplate: boolean;
}

export interface Tokenizer {
  readonly summary: TokenizerSummary;
  /** id -> token content (tokenizer.json only). */
  readonly tokens: ReadonlyMap<number, string> | undefined;
}

const FILES = ["tokenizer.json", "tokenizer.model", "tokenizer_config.json", "special_tokens_map.json", "vocab.json", "merges.txt", "chat_template.jinja", "chat_template.json"] as const;

async function readJson(dir: ModelDirectory, name: string): Promise<unknown> {
  const bytes = await dir.readFile(name);
  if (bytes.length > MAX_SIDE_FILE_BYTES) throw new AmalgamError("E_MODEL_CONFIG", `${dir.ref}/${name}: ${bytes.length} bytes, over the ${MAX_SIDE_FILE_BYTES}-byte limit`);
  try {
    return JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch (e) {
    throw new AmalgamError("E_MODEL_CONFIG", `${dir.ref}/${name}: not valid JSON (${(e as Error).message})`);
  }
}

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** tokenizer_config.json's token fields are a string or {"content": ...}. */
function tokenText(v: unknown): string | null {
  if (typeof v === "string") return v;
  if (isObj(v) && typeof v["content"] === "string") return v["content"];
  return null;
}

/** The id -> token table of a parsed tokenizer.json (model vocabulary, then added tokens). */
export function tokenTable(json: unknown, where: string): { type: string | null; tokens: Map<number, string>; added: number; specials: string[] } {
  if (!isObj(json)) throw new AmalgamError("E_MODEL_CONFIG", `${where}: expected a JSON object`);
  const tokens = new Map<number, string>();
  const model = json["model"];
  let type: string | null = null;
  const bad = (what: string) => new AmalgamError("E_MODEL_CONFIG", `${where}: ${what}`);
  if (isObj(model)) {
    type = typeof model["type"] === "string" ? model["type"] : null;
    const vocab = model["vocab"];
    if (Array.isArray(vocab)) {
      // Unigram: [[piece, score], ...], the id is the position
      if (vocab.length > MAX_VOCAB_ENTRIES) throw bad(`${vocab.length} vocabulary entries, over the limit of ${MAX_VOCAB_ENTRIES}`);
      vocab.forEach((e, i) => {
        const piece = Array.isArray(e) ? e[0] : undefined;
        if (typeof piece !== "string") throw bad(`model.vocab[${i}] is not a [piece, score] pair`);
        tokens.set(i, piece);
      });
    } else if (isObj(vocab)) {
      const entries = Object.entries(vocab);
      if (entries.length > MAX_VOCAB_ENTRIES) throw bad(`${entries.length} vocabulary entries, over the limit of ${MAX_VOCAB_ENTRIES}`);
      for (const [tok, id] of entries) {
        if (typeof id !== "number" || !Number.isSafeInteger(id) || id < 0) throw bad(`model.vocab[${JSON.stringify(tok)}] is not a token id`);
        tokens.set(id, tok);
      }
    }
  }
  let added = 0;
  const specials: string[] = [];
  const list = json["added_tokens"];
  if (Array.isArray(list)) {
    if (list.length > MAX_VOCAB_ENTRIES) throw bad(`${list.length} added tokens, over the limit of ${MAX_VOCAB_ENTRIES}`);
    for (const t of list) {
      if (!isObj(t) || typeof t["id"] !== "number" || !Number.isSafeInteger(t["id"]) || t["id"] < 0 || typeof t["content"] !== "string") throw bad("added_tokens has an entry without an integer id and a content string");
      tokens.set(t["id"], t["content"]);
      added++;
      if (t["special"] === true) specials.push(t["content"]);
    }
  }
  return { type, tokens, added, specials };
}

/** Reads a model's tokenizer files; undefined when it has none. */
export async function loadTokenizer(dir: ModelDirectory): Promise<Tokenizer | undefined> {
  const files: string[] = [];
  for (const f of FILES) if (await dir.has(f)) files.push(f);
  if (!files.includes("tokenizer.json") && !files.includes("tokenizer.model") && !files.includes("tokenizer_config.json")) return undefined;
  let type: string | null = null;
  let tokens: Map<number, string> | undefined;
  let added = 0;
  let specials: string[] = [];
  if (files.includes("tokenizer.json")) {
    const t = tokenTable(await readJson(dir, "tokenizer.json"), `${dir.ref}/tokenizer.json`);
    ({ type, tokens, added, specials } = t);
  } else if (files.includes("tokenizer.model")) {
    type = "sentencepiece";
  }
  const cfg = files.includes("tokenizer_config.json") ? await readJson(dir, "tokenizer_config.json") : {};
  const c = isObj(cfg) ? cfg : {};
  const summary: TokenizerSummary = {
    files,
    type,
    vocabSize: tokens ? tokens.size : null,
    addedTokens: added,
    specialTokens: specials.slice(0, MAX_LISTED_SPECIALS),
    tokenizerClass: typeof c["tokenizer_class"] === "string" ? c["tokenizer_class"] : null,
    bos: tokenText(c["bos_token"]),
    eos: tokenText(c["eos_token"]),
    pad: tokenText(c["pad_token"]),
    unk: tokenText(c["unk_token"]),
    chatTemplate: c["chat_template"] !== undefined && c["chat_template"] !== null || files.includes("chat_template.jinja") || files.includes("chat_template.json"),
  };
  return { summary, tokens };
}

export interface TokenDifference {
  readonly id: number;
  /** The token in the first / second model, null where that model has no such id. */
  readonly a: string | null;
  readonly b: string | null;
}

export interface TokenizerComparison {
  readonly a: string;
  readonly b: string;
  /** Whether both have tokenizer.json (otherwise nothing was compared). */
  readonly compared: boolean;
  readonly identical: boolean;
  /** Ids present in both with different tokens. */
  readonly differing: number;
  /** Ids only in the first / the second. */
  readonly onlyA: number;
  readonly onlyB: number;
  /** The first differences by id (at most `limit`). */
  readonly examples: readonly TokenDifference[];
}

/** Compares two id -> token tables. */
export function compareTokenizers(aRef: string, a: Tokenizer | undefined, bRef: string, b: Tokenizer | undefined, limit = 10): TokenizerComparison {
  if (!a?.tokens || !b?.tokens) return { a: aRef, b: bRef, compared: false, identical: false, differing: 0, onlyA: 0, onlyB: 0, examples: [] };
  const ids = [...new Set([...a.tokens.keys(), ...b.tokens.keys()])].sort((x, y) => x - y);
  let differing = 0, onlyA = 0, onlyB = 0;
  const examples: TokenDifference[] = [];
  for (const id of ids) {
    const ta = a.tokens.get(id);
    const tb = b.tokens.get(id);
    if (ta === tb) continue;
    if (ta === undefined) onlyB++;
    else if (tb === undefined) onlyA++;
    else differing++;
    if (examples.length < limit) examples.push({ id, a: ta ?? null, b: tb ?? null });
  }
  return { a: aRef, b: bRef, compared: true, identical: differing + onlyA + onlyB === 0, differing, onlyA, onlyB, examples };
}
