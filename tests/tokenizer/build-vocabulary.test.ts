// The output vocabulary for each tokenizer model type (BPE, WordPiece, WordLevel, Unigram):
// reading, stripping past vocab_size, union order, added-token settings, `tokens:` additions.
import { Tokenizer } from "@huggingface/tokenizers";
import { describe, expect, it } from "vitest";
import type { TokenizerConfig } from "../../src/config/types.ts";
import { AmalgamError } from "../../src/errors.ts";
import { buildOutputTokenizer } from "../../src/tokenizer/build-vocabulary.ts";
import type { VocabularyInput } from "../../src/tokenizer/build-vocabulary.ts";
import { fullVocabulary, parseTokenizerJson } from "../../src/tokenizer/tokenizer-files.ts";
import { bpeTokenizerJson, unigramJson, wordLevelJson, wordPieceJson } from "../fixtures/arch-tokenizer-json.ts";
import type { AddedSpec } from "../fixtures/arch-tokenizer-json.ts";

function input(ref: string, json: Record<string, unknown>, vocabSize: number): VocabularyInput {
  return { ref, tokenizer: parseTokenizerJson(ref, json), vocabSize };
}

function config(source: TokenizerConfig["source"]["kind"], tokens: string[] = [], pad?: number): TokenizerConfig {
  return { source: source === "model" ? { kind: "union" } : { kind: source } as TokenizerConfig["source"], tokens: new Map(tokens.map((t) => [t, { source: undefined, force: false, path: `tokenizer.tokens.${t}` }])), padToMultipleOf: pad, path: "tokenizer" };
}

const sorted = (v: ReadonlyMap<string, number>) => [...v].sort((a, b) => a[1] - b[1]).map(([t]) => t);

describe("reading tokenizer.json", () => {
  it("reads each model type's vocabulary and the added tokens", () => {
    const wl = parseTokenizerJson("m", wordLevelJson(["<unk>", "a", "b"], [{ id: 3, content: "<s>" }]));
    expect(wl.modelType).toBe("WordLevel");
    expect([...fullVocabulary(wl)]).toEqual([["<unk>", 0], ["a", 1], ["b", 2], ["<s>", 3]]);
    const wp = parseTokenizerJson("m", wordPieceJson(["[UNK]", "hello", "##s"]));
    expect(wp.modelType).toBe("WordPiece");
    expect(wp.modelVocab.get("##s")).toBe(2);
    const un = parseTokenizerJson("m", unigramJson(["<unk>", "▁hello", "▁"]));
    expect(un.modelType).toBe("Unigram");
    expect([...un.modelVocab]).toEqual([["<unk>", 0], ["▁hello", 1], ["▁", 2]]);
    const bpe = parseTokenizerJson("m", bpeTokenizerJson(["hi"], [{ id: 32, content: "<x>", special: false }]));
    expect(bpe.modelType).toBe("BPE");
    expect(bpe.added.at(-1)).toEqual({ id: 32, content: "<x>", single_word: false, lstrip: false, rstrip: false, normalized: true, special: false });
  });

  it.each([
    [{ model: { type: "Mystery", vocab: {} } }, `m/tokenizer.json: model type "Mystery" is not one of BPE, WordPiece, WordLevel, Unigram`],
    [{ model: { type: "WordLevel", vocab: { a: -1 } } }, `m/tokenizer.json: model.vocab["a"] is -1, expected a non-negative integer id`],
    [{ model: { type: "Unigram", vocab: { a: 1 } } }, "m/tokenizer.json: model.vocab of a Unigram model must be a list of [piece, score]"],
    [{ model: { type: "WordLevel", vocab: {} }, added_tokens: [{ content: "x" }] }, `m/tokenizer.json: added_tokens[0] needs an integer "id" and a string "content"`],
    [{}, `m/tokenizer.json: no "model" object`],
  ])("rejects malformed files (%#)", (json, message) => {
    let err: unknown;
    try { parseTokenizerJson("m", json as Record<string, unknown>); } catch (e) { err = e; }
    expect((err as AmalgamError).code).toBe("E_TOKENIZER");
    expect((err as AmalgamError).message).toBe(message);
  });
});

describe("building the output vocabulary", () => {
  it("WordLevel union: base first, other tokens in id order, added tokens last; the result loads", () => {
    const warnings: string[] = [];
    const base = input("base", wordLevelJson(["<unk>", "the", "cat"], [{ id: 3, content: "<s>" }]), 4);
    const other = input("other", wordLevelJson(["<unk>", "dog", "the", "sat"], [{ id: 4, content: "<eot>" }, { id: 5, content: "<s>", special: false }]), 6);
    const out = buildOutputTokenizer(config("union"), [base, other], undefined, warnings);
    expect(sorted(out.vocab)).toEqual(["<unk>", "the", "cat", "<s>", "dog", "sat", "<eot>"]);
    expect(out.added.map((a) => [a.id, a.content, a.special, a.normalized])).toEqual([[3, "<s>", true, false], [4, "dog", false, true], [5, "sat", false, true], [6, "<eot>", true, false]]);
    expect(warnings).toEqual([`token "<s>" is added with different settings by different models; using the first (base)`]);
    const tok = new Tokenizer(out.json, {});
    expect(tok.encode("the dog sat <eot>").ids).toEqual([1, 4, 5, 6]);
  });

  it("WordPiece union keeps the base's ids and loads", () => {
    const out = buildOutputTokenizer(config("union"), [input("a", wordPieceJson(["[UNK]", "hello", "##s"]), 3), input("b", wordPieceJson(["[UNK]", "world", "hello"]), 3)], undefined, []);
    expect(sorted(out.vocab)).toEqual(["[UNK]", "hello", "##s", "world"]);
    expect(new Tokenizer(out.json, {}).encode("hello world").ids).toEqual([1, 3]);
  });

  it("strips ids past the base's vocab_size: BPE merges that need them go too", () => {
    const json = bpeTokenizerJson(["hello", "help"]);
    // "▁help" adds ▁help (id 35) after ▁hello (34); a vocab_size of 35 cuts it
    const warnings: string[] = [];
    const out = buildOutputTokenizer(config("base"), [input("base", json, 35)], undefined, warnings);
    expect(out.size).toBe(35);
    expect(out.vocab.has("▁help")).toBe(false);
    const merges = (out.json["model"] as { merges: string[] }).merges;
    expect(merges).not.toContain("▁hel p");
    expect(merges).toContain("▁hell o");
    expect(warnings).toEqual([`base: 1 token(s) have ids past its vocab_size 35 (no embedding rows) and are dropped from the base vocabulary: "▁help"`]);
    expect(new Tokenizer(out.json, {}).encode("help").tokens).toEqual(["▁hel", "p"]);
  });

  it("strips Unigram pieces and WordLevel entries past vocab_size", () => {
    const un = buildOutputTokenizer(config("base"), [input("u", unigramJson(["<unk>", "▁hello", "▁", "x", "y"]), 3)], undefined, []);
    expect(sorted(un.vocab)).toEqual(["<unk>", "▁hello", "▁"]);
    expect((un.json["model"] as { vocab: unknown[] }).vocab).toHaveLength(3);
    const wl = buildOutputTokenizer(config("base"), [input("w", wordLevelJson(["<unk>", "a", "b"], [{ id: 3, content: "<pad>" }]), 2)], undefined, []);
    expect(sorted(wl.vocab)).toEqual(["<unk>", "a"]);
    expect(wl.json["added_tokens"]).toEqual([]);
  });

  it("adds `tokens:` keys missing from the vocabulary and pads the row count", () => {
    const out = buildOutputTokenizer(config("base", ["a", "<new>"], 8), [input("w", wordLevelJson(["<unk>", "a", "b"]), 3)], undefined, []);
    expect(out.vocab.get("<new>")).toBe(3);
    expect(out.vocab.get("a")).toBe(1);
    expect([out.size, out.paddedSize]).toEqual([4, 8]);
  });

  it("Unigram union appends pieces as added tokens", () => {
    const out = buildOutputTokenizer(config("union"), [input("a", unigramJson(["<unk>", "▁hi"]), 2), input("b", unigramJson(["<unk>", "▁yo", "▁hi"]), 3)], undefined, []);
    expect(sorted(out.vocab)).toEqual(["<unk>", "▁hi", "▁yo"]);
    expect(out.added).toEqual([{ id: 2, content: "▁yo", single_word: false, lstrip: false, rstrip: false, normalized: true, special: false }]);
  });

  const specials: AddedSpec[] = [{ id: 2, content: "<a>" }];
  it("leaves an existing token's id alone when another model adds it", () => {
    const out = buildOutputTokenizer(config("union"), [input("a", wordLevelJson(["<unk>", "<a>"]), 2), input("b", wordLevelJson(["<unk>", "z"], specials), 3)], undefined, []);
    expect(out.vocab.get("<a>")).toBe(1);
    expect(out.added.map((a) => [a.id, a.content, a.special])).toEqual([[1, "<a>", true], [2, "z", false]]);
  });
});
