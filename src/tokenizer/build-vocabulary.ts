// The output vocabulary of a merge (MergeKit's BuildTokenizer): the base tokenizer stripped of ids
// past its model's vocab_size, then `base`, `union` (other models' tokens appended as added
// tokens) or another model's tokenizer, plus the tokens named in `tokenizer.tokens`.
import type { TokenizerConfig } from "../config/types.ts";
import { AmalgamError } from "../errors.ts";
import { fullVocabulary } from "./tokenizer-files.ts";
import type { AddedToken, TokenizerFiles } from "./tokenizer-files.ts";

/** A model's tokenizer and the number of embedding rows its config declares. */
export interface VocabularyInput {
  readonly ref: string;
  readonly tokenizer: TokenizerFiles;
  /** config.json vocab_size (ids at or past it have no embedding row). */
  readonly vocabSize: number;
}

export interface OutputTokenizer {
  /** tokenizer.json to write. */
  readonly json: Record<string, unknown>;
  /** Token -> id of the output (Transformers' get_vocab()). */
  readonly vocab: ReadonlyMap<string, number>;
  /** Embedding rows for the real vocabulary (largest id + 1). */
  readonly size: number;
  /** Rows after padding to `pad_to_multiple_of` (config.json's vocab_size). */
  readonly paddedSize: number;
  readonly added: readonly AddedToken[];
  /** The tokenizer whose tokenizer_config.json and special_tokens_map.json are carried over. */
  readonly from: TokenizerFiles;
}

/** A tokenizer being edited the way `tokenizer.add_tokens` edits one (Hugging Face tokenizers' rules). */
class EditableTokenizer {
  readonly modelVocab: Map<string, number>;
  readonly added = new Map<number, AddedToken>();
  private readonly addedIds = new Map<string, number>();
  private maxAddedId = -1;

  constructor(readonly from: TokenizerFiles, readonly json: Record<string, unknown>) {
    this.modelVocab = new Map(from.modelVocab);
    for (const a of from.added) this.setAdded(a);
  }

  private setAdded(a: AddedToken): void {
    this.added.set(a.id, a);
    this.addedIds.set(a.content, a.id);
    if (a.id > this.maxAddedId) this.maxAddedId = a.id;
  }

  idOf(content: string): number | undefined {
    return this.addedIds.get(content) ?? this.modelVocab.get(content);
  }

  has(content: string): boolean {
    return this.idOf(content) !== undefined;
  }

  /** A token that exists keeps its id (and takes the new settings); a new one gets the next id. */
  add(token: Omit<AddedToken, "id">): void {
    if (token.content === "") return;
    let id = this.idOf(token.content);
    id ??= Math.max(this.modelVocab.size, this.maxAddedId + 1);
    this.setAdded({ ...token, id });
  }

  /** Drops ids >= `size` from the vocabulary, the merges and the added tokens. */
  strip(size: number): void {
    for (const [tok, id] of this.modelVocab) if (id >= size) this.modelVocab.delete(tok);
    for (const [id, a] of this.added) {
      if (id >= size) {
        this.added.delete(id);
        if (this.addedIds.get(a.content) === id) this.addedIds.delete(a.content);
      }
    }
    this.maxAddedId = -1;
    for (const id of this.added.keys()) if (id > this.maxAddedId) this.maxAddedId = id;
  }

  vocab(): Map<string, number> {
    const out = new Map(this.modelVocab);
    for (const a of this.added.values()) out.set(a.content, a.id);
    return out;
  }

  /** tokenizer.json with the edited vocabulary and added tokens; the rest as the source wrote it. */
  toJson(): Record<string, unknown> {
    const json = structuredClone(this.json);
    const model = json["model"] as Record<string, unknown>;
    const type = this.from.modelType;
    const byId = [...this.modelVocab].sort((a, b) => a[1] - b[1]);
    if (type === "Unigram") {
      const old = model["vocab"] as unknown[];
      model["vocab"] = byId.map(([, id]) => old[id]);
    } else {
      model["vocab"] = Object.fromEntries(byId);
    }
    if (type === "BPE" && Array.isArray(model["merges"])) {
      // A merge survives when both parts and their concatenation are still in the vocabulary.
      model["merges"] = (model["merges"] as unknown[]).filter((m) => {
        const [a, b] = typeof m === "string" ? splitMerge(m) : Array.isArray(m) ? [String(m[0]), String(m[1])] : ["", ""];
        return this.modelVocab.has(a) && this.modelVocab.has(b) && this.modelVocab.has(a + b);
      });
    }
    json["added_tokens"] = [...this.added.values()].sort((a, b) => a.id - b.id).map((a) => ({ ...a }));
    return json;
  }
}

function splitMerge(m: string): [string, string] {
  const i = m.indexOf(" ");
  return i < 0 ? [m, ""] : [m.slice(0, i), m.slice(i + 1)];
}

function sameSettings(a: AddedToken, b: AddedToken): boolean {
  return a.content === b.content && a.single_word === b.single_word && a.lstrip === b.lstrip && a.rstrip === b.rstrip && a.normalized === b.normalized && a.special === b.special;
}

/** A plain `add_tokens("text")`: not special, normalized. */
function plainToken(content: string): Omit<AddedToken, "id"> {
  return { content, single_word: false, lstrip: false, rstrip: false, normalized: true, special: false };
}

function strippedBase(base: VocabularyInput, warnings: string[]): EditableTokenizer {
  const t = new EditableTokenizer(base.tokenizer, base.tokenizer.json as Record<string, unknown>);
  const beyond = [...fullVocabulary(base.tokenizer)].filter(([, id]) => id >= base.vocabSize);
  if (beyond.length) {
    t.strip(base.vocabSize);
    warnings.push(`${base.ref}: ${beyond.length} token(s) have ids past its vocab_size ${base.vocabSize} (no embedding rows) and are dropped from the base vocabulary: ${beyond.slice(0, 4).map(([tok]) => JSON.stringify(tok)).join(", ")}${beyond.length > 4 ? ", ..." : ""}`);
  }
  return t;
}

/**
 * Builds the output tokenizer. `models` is every referenced model, base (or donor) first, then the
 * others in config order; `sourceModel` is the tokenizer named by `source: <model>`.
 */
export function buildOutputTokenizer(cfg: TokenizerConfig, models: readonly VocabularyInput[], sourceModel: TokenizerFiles | undefined, warnings: string[]): OutputTokenizer {
  const base = models[0]!;
  let t: EditableTokenizer;
  if (cfg.source.kind === "model") {
    t = new EditableTokenizer(sourceModel!, sourceModel!.json as Record<string, unknown>);
  } else {
    t = strippedBase(base, warnings);
  }
  if (cfg.source.kind === "union") {
    const regular: string[] = [];
    const seenRegular = new Set<string>();
    const added = new Map<string, AddedToken>();
    const warned = new Set<string>();
    const baseVocab = t.vocab();
    for (const m of models) {
      const vocab = m === base ? baseVocab : fullVocabulary(m.tokenizer);
      const addedHere = new Set(m.tokenizer.added.map((a) => a.content));
      // Regular tokens in id order (MergeKit iterates a hash map; we fix the order).
      for (const [tok, id] of [...vocab].sort((a, b) => a[1] - b[1])) {
        if (id >= m.vocabSize || addedHere.has(tok) || seenRegular.has(tok)) continue;
        seenRegular.add(tok);
        regular.push(tok);
      }
      for (const a of [...m.tokenizer.added].sort((x, y) => x.id - y.id)) {
        if (a.id >= m.vocabSize || (m === base && !baseVocab.has(a.content))) continue;
        const prev = added.get(a.content);
        if (prev) {
          if (!sameSettings(prev, a) && !warned.has(a.content)) {
            warned.add(a.content);
            warnings.push(`token ${JSON.stringify(a.content)} is added with different settings by different models; using the first (${models.find((x) => x.tokenizer.added.some((y) => sameSettings(y, prev)))!.ref})`);
          }
          continue;
        }
        added.set(a.content, a);
      }
    }
    for (const tok of regular) if (!added.has(tok) && !baseVocab.has(tok)) t.add(plainToken(tok));
    for (const a of added.values()) t.add(a);
  }
  for (const tok of cfg.tokens.keys()) if (!t.has(tok)) t.add(plainToken(tok));

  const vocab = t.vocab();
  let size = 0;
  for (const id of vocab.values()) if (id + 1 > size) size = id + 1;
  const pad = cfg.padToMultipleOf;
  const paddedSize = pad && size % pad ? Math.ceil(size / pad) * pad : size;
  if (size === 0) throw new AmalgamError("E_TOKENIZER", `${cfg.path}: the output vocabulary is empty`);
  return { json: t.toJson(), vocab, size, paddedSize, added: [...t.added.values()].sort((a, b) => a.id - b.id), from: t.from };
}
