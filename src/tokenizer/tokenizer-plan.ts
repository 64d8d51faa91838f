// Vocabulary merging for a plan: reads every model's tokenizer, builds the output tokenizer and
// each model's permutation (output id -> the model's row), and wraps embedding inputs.
import { getConfigPath } from "../arch/config-path.ts";
import type { MergeConfig, ModelRef } from "../config/types.ts";
import type { DType } from "../dtype.ts";
import { AmalgamError } from "../errors.ts";
import type { ModelFiles, ModelTensor } from "../io/model-files.ts";
import type { ResolveModel } from "../io/storage.ts";
import type { ModelStructure } from "../plan/structure.ts";
import { buildOutputTokenizer } from "./build-vocabulary.ts";
import type { OutputTokenizer, VocabularyInput } from "./build-vocabulary.ts";
import { PermutedEmbeddings } from "./permuted-embeddings.ts";
import { fullVocabulary, readTokenizerFiles } from "./tokenizer-files.ts";
import type { TokenizerFiles } from "./tokenizer-files.ts";

export interface TokenizerModel {
  readonly ref: ModelRef;
  readonly files: ModelFiles;
  /** Its layout: the architecture names the config.json key of the vocabulary size. */
  readonly structure: ModelStructure;
}

export interface TokenizerPlan {
  readonly output: OutputTokenizer;
  /** Output id -> the model's row (-1 when it lacks the token or has no row for it). */
  permutation(model: TokenizerModel, rows: number): Int32Array;
  vocab(model: TokenizerModel): ReadonlyMap<string, number>;
  /**
   * Embedding inputs permuted into the output vocabulary: float32 virtual tensors of
   * [paddedSize, hidden] in the working dtype, plus the warning about tokens no model has.
   */
  permute(tensor: string, inputs: readonly { model: TokenizerModel; tensor: ModelTensor }[], baseIndex: number | undefined, working: DType): { tensors: ModelTensor[]; warning: string | undefined };
}

/** A model's embedding rows by its config (`vocab_size` or the architecture's key), else its tokenizer's size. */
function configVocabSize(m: TokenizerModel, t: TokenizerFiles): number {
  const v = getConfigPath(m.files.config, m.structure.architecture?.vocabSizeKey ?? "vocab_size");
  if (typeof v === "number" && Number.isInteger(v) && v > 0) return v;
  let n = 0;
  for (const id of fullVocabulary(t).values()) if (id + 1 > n) n = id + 1;
  return n;
}

async function tokenizerOf(m: TokenizerModel, what: string): Promise<TokenizerFiles> {
  const t = await readTokenizerFiles(m.files.dir);
  if (!t) throw new AmalgamError("E_TOKENIZER", `${m.ref.text}: no tokenizer.json; ${what} needs each model's fast tokenizer (tokenizer.json)`);
  return t;
}

/**
 * `models`: every referenced model, the donor (base model, else the first) first, then the others
 * in config order. Reads tokenizers and builds the output vocabulary; throws on unusable input.
 */
export async function planTokenizer(config: MergeConfig, models: readonly TokenizerModel[], resolveModel: ResolveModel, warnings: string[]): Promise<TokenizerPlan> {
  const cfg = config.tokenizer!;
  const what = `${cfg.path} (vocabulary merging)`;
  const toks = new Map<string, TokenizerFiles>();
  const inputs: VocabularyInput[] = [];
  for (const m of models) {
    const t = await tokenizerOf(m, what);
    toks.set(m.ref.text, t);
    inputs.push({ ref: m.ref.text, tokenizer: t, vocabSize: configVocabSize(m, t) });
  }
  let sourceModel: TokenizerFiles | undefined;
  if (cfg.source.kind === "model") {
    const ref = cfg.source.model;
    sourceModel = toks.get(ref.text);
    if (!sourceModel) {
      // A tokenizer-only source that is not merged: read its directory for the tokenizer alone.
      const dir = await resolveModel(ref.revision ? `${ref.path}@${ref.revision}` : ref.path);
      try {
        sourceModel = await readTokenizerFiles(dir);
      } finally {
        await dir.close?.();
      }
      if (!sourceModel) throw new AmalgamError("E_TOKENIZER", `${cfg.path}.source: ${ref.text} has no tokenizer.json`);
    }
  }
  const output = buildOutputTokenizer(cfg, inputs, sourceModel, warnings);
  const vocabs = new Map<string, ReadonlyMap<string, number>>();
  const perms = new Map<string, Int32Array>();
  const vocab = (m: TokenizerModel) => {
    let v = vocabs.get(m.ref.text);
    if (!v) vocabs.set(m.ref.text, (v = fullVocabulary(toks.get(m.ref.text)!)));
    return v;
  };
  const permutation = (m: TokenizerModel, rows: number) => {
    const key = `${m.ref.text}\0${rows}`;
    let p = perms.get(key);
    if (p) return p;
    const own = vocab(m);
    const limit = Math.min(rows, inputs.find((x) => x.ref === m.ref.text)!.vocabSize);
    p = new Int32Array(output.size).fill(-1);
    for (const [tok, id] of output.vocab) {
      const old = own.get(tok);
      if (old !== undefined && old < limit) p[id] = old;
    }
    perms.set(key, p);
    return p;
  };
  return {
    output,
    permutation,
    vocab,
    permute(tensor, ins, baseIndex, working) {
      const pe = new PermutedEmbeddings({
        tensor, working, baseIndex, vocab: output.vocab, size: output.size, paddedSize: output.paddedSize, tokens: cfg.tokens,
        inputs: ins.map((x) => ({ ref: x.model.ref, tensor: x.tensor, permutation: permutation(x.model, x.tensor.shape[0]!), vocab: vocab(x.model) })),
      });
      const missing = pe.missing;
      const warning = missing.length
        ? `${missing.length} token(s) of the output vocabulary are in none of the input models (${missing.slice(0, 4).map((t) => JSON.stringify(t)).join(", ")}${missing.length > 4 ? ", ..." : ""}); their embedding rows are zero`
        : undefined;
      return { tensors: ins.map((_, i) => pe.virtualTensor(i)), warning };
    },
  };
}
