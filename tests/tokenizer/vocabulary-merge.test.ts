// Vocabulary merging end to end: the union vocabulary, every model's embedding rows permuted into
// it (own row, the one model's, the base's, the mean, zero, padding), and a written tokenizer that
// loads with @huggingface/tokenizers and encodes shared text as the base tokenizer does.
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Tokenizer } from "@huggingface/tokenizers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseMergeConfig } from "../../src/config/parse-config.ts";
import { AmalgamError } from "../../src/errors.ts";
import { roundBf16 } from "../../src/kernels/scalar.ts";
import { loadInput } from "../../src/executor/load-input.ts";
import { buildPlan } from "../../src/plan/build-plan.ts";
import type { MergePlan } from "../../src/plan/types.ts";
import { fsResolver } from "../../runtimes/node/fs-model.ts";
import { nodeThreadPool } from "../../runtimes/node/thread-pool.ts";
import { loadKernelModule } from "../../runtimes/node/wasm.ts";
import { FIXTURE_HIDDEN } from "../fixtures/arch-checkpoints.ts";
import { bpeTokenizerJson } from "../fixtures/arch-tokenizer-json.ts";
import { tensorValues } from "../fixtures/arch-write-model.ts";
import { runMerge, tempDir } from "../helpers/run-merge.ts";
import { testKernels } from "../helpers/kernels.ts";
import { wsumRef } from "../helpers/reference.ts";
import { readTensors, values } from "../helpers/safetensors-read.ts";
import { fixtureModel, tokenizerOf, writeFixtures } from "./vocab-fixture.ts";
import type { ModelName } from "./vocab-fixture.ts";

const H = FIXTURE_HIDDEN;
const EMBED = "model.embed_tokens.weight";

const UNION = `merge_method: linear
base_model: base
models:
  - model: chat
    parameters: {weight: 0.5}
  - model: ext
    parameters: {weight: 0.25}
  - model: base
    parameters: {weight: 0.25}
dtype: bfloat16
tokenizer:
  source: union
  tokens:
    "<|nobody|>":
  pad_to_multiple_of: 16
`;

/** Model `name`'s stored row `r` of `tensor`. */
function storedRow(name: ModelName, tensor: string, r: number): Float32Array {
  const m = fixtureModel(name);
  const t = m.tensors.find((x) => x.name === tensor)!;
  return tensorValues(m, t).subarray(r * H, (r + 1) * H);
}

const plans: MergePlan[] = [];
/** A plan over the models in `dir`; their files are closed after the file's tests (as merge() does at its end). */
async function planOf(dir: string, yaml: string): Promise<MergePlan> {
  const plan = await buildPlan(parseMergeConfig(yaml, "test.yml"), { resolveModel: fsResolver(dir) });
  plans.push(plan);
  return plan;
}
afterAll(async () => {
  for (const p of plans.splice(0)) for (const m of p.models) await m.files.dir.close?.();
});

/** The permuted [rows, H] matrix the method sees for `model`, read through the plan. */
async function permuted(plan: MergePlan, tensor: string, model: string): Promise<Float32Array> {
  const t = plan.tensors.find((x) => x.name === tensor)!;
  const s = t.sources.find((x) => x.model.ref.text === model)!;
  const bytes = new Uint8Array(s.tensor.byteLength);
  await s.tensor.source.readInto(s.tensor.offset, bytes);
  return new Float32Array(bytes.buffer);
}

const row = (m: Float32Array, r: number) => Array.from(m.subarray(r * H, (r + 1) * H));

describe("tokenizer: union", () => {
  let dir: string;
  let plan: MergePlan;
  beforeAll(async () => {
    dir = tempDir();
    writeFixtures(dir);
    plan = await planOf(dir, UNION);
  });

  it("builds the union vocabulary: base ids kept, other models' tokens appended, past-vocab_size ids stripped", () => {
    const v = plan.tokenizer!.vocab;
    const base = tokenizerOf("base")["model"] as { vocab: Record<string, number> };
    for (const [tok, id] of Object.entries(base.vocab)) expect(v.get(tok), tok).toBe(id);
    expect(v.get("<|sys|>")).toBe(40);
    expect(["▁m", "▁me", "▁mer", "▁merg", "▁merge"].map((t) => v.get(t))).toEqual([41, 42, 43, 44, 45]);
    expect(v.get("<|im_start|>")).toBe(46);
    expect(v.get("<|im_end|>")).toBe(47);
    expect(v.get("<|nobody|>")).toBe(48);
    expect(v.has("<extra>")).toBe(false);
    expect(plan.tokenizer!.size).toBe(49);
    expect(plan.tokenizer!.paddedSize).toBe(64);
    expect(plan.warnings).toContain(`base: 1 token(s) have ids past its vocab_size 41 (no embedding rows) and are dropped from the base vocabulary: "<extra>"`);
    expect(plan.warnings).toContain(`1 token(s) of the output vocabulary are in none of the input models ("<|nobody|>"); their embedding rows are zero`);
  });

  it("permutes each model's rows: own row, the one model's, the base's, the mean, zero, padding", async () => {
    for (const tensor of [EMBED, "lm_head.weight"]) {
      const b = await permuted(plan, tensor, "base");
      const c = await permuted(plan, tensor, "chat");
      const e = await permuted(plan, tensor, "ext");
      for (const m of [b, c, e]) expect(m.length).toBe(64 * H);
      // shared tokens: every model keeps its own row
      for (const id of [0, 5, 33, 39]) {
        expect(row(b, id)).toEqual(Array.from(storedRow("base", tensor, id)));
        expect(row(c, id)).toEqual(Array.from(storedRow("chat", tensor, id)));
        expect(row(e, id)).toEqual(Array.from(storedRow("ext", tensor, id)));
      }
      // <|sys|>: base and chat have it, ext takes the base's row
      expect(row(e, 40)).toEqual(Array.from(storedRow("base", tensor, 40)));
      expect(row(c, 40)).toEqual(Array.from(storedRow("chat", tensor, 40)));
      // ▁m ... ▁merge: only ext has them (rows 40-44); everyone takes ext's
      for (let k = 0; k < 5; k++) for (const m of [b, c, e]) expect(row(m, 41 + k)).toEqual(Array.from(storedRow("ext", tensor, 40 + k)));
      // <|im_start|>: only chat (row 41)
      for (const m of [b, c, e]) expect(row(m, 46)).toEqual(Array.from(storedRow("chat", tensor, 41)));
      // <|im_end|>: chat (42) and ext (45) have it, the base does not: the base takes their mean (bf16 rounding)
      const x = storedRow("chat", tensor, 42);
      const y = storedRow("ext", tensor, 45);
      expect(row(b, 47)).toEqual(Array.from(x, (xi, i) => roundBf16(Math.fround(roundBf16(xi + y[i]!) / 2))));
      expect(row(c, 47)).toEqual(Array.from(x));
      expect(row(e, 47)).toEqual(Array.from(y));
      // <|nobody|>: no model has it
      for (const m of [b, c, e]) expect(row(m, 48)).toEqual(new Array(H).fill(0));
      // padding rows 49-63: the mean of the model's 49 real rows
      for (const m of [b, c, e]) {
        for (let col = 0; col < H; col++) {
          let sum = 0;
          for (let r = 0; r < 49; r++) sum += m[r * H + col]!;
          const mean = sum / 49;
          for (const r of [49, 63]) expect(Math.abs(m[r * H + col]! - mean)).toBeLessThanOrEqual(Math.abs(mean) * 2 ** -8 + 1e-30);
        }
        expect(row(m, 49)).toEqual(row(m, 63));
      }
    }
  });

  it("reads the same rows through any byte range (tiles need not align with rows)", async () => {
    const t = plan.tensors.find((x) => x.name === EMBED)!;
    for (const s of t.sources) {
      const whole = new Uint8Array(s.tensor.byteLength);
      await s.tensor.source.readInto(0, whole);
      for (const chunk of [20, 36, 1028]) {
        const parts = new Uint8Array(s.tensor.byteLength);
        for (let off = 0; off < parts.length; off += chunk) {
          await s.tensor.source.readInto(off, parts.subarray(off, Math.min(parts.length, off + chunk)));
        }
        expect(Buffer.from(parts).equals(Buffer.from(whole)), `${s.model.ref.text} in ${chunk}-byte reads`).toBe(true);
      }
      // the whole-tensor path of non-elementwise methods reads the same values
      const k = await testKernels();
      const { buf, shape } = await loadInput(k, s.tensor, t.workingDtype, t.shape, true);
      expect(shape).toEqual([64, H]);
      expect(Buffer.from(k.bytes(buf.ptr, buf.length * 4)).equals(Buffer.from(whole))).toBe(true);
    }
  });

  it("gives the same bytes whole, in small tiles, and on worker threads", async () => {
    const outs = [join(dir, "whole"), join(dir, "tiles"), join(dir, "threads")];
    await runMerge(UNION, dir, outs[0]!, { tileElements: 1 << 20 });
    await runMerge(UNION, dir, outs[1]!, { tileElements: 64 });
    await runMerge(UNION, dir, outs[2]!, { kernels: await loadKernelModule(true), threadPool: nodeThreadPool, threadCount: 2, tileElements: 128 });
    const ref = readFileSync(join(outs[0]!, "model.safetensors"));
    for (const o of outs.slice(1)) expect(readFileSync(join(o, "model.safetensors")).equals(ref), o).toBe(true);
  });

  it("merges the permuted rows and writes a tokenizer that loads and round-trips text", async () => {
    const out = join(dir, "out");
    const r = await runMerge(UNION, dir, out);
    const got = readTensors(out);
    expect(got.get(EMBED)!.shape).toEqual([64, H]);
    expect(got.get("lm_head.weight")!.shape).toEqual([64, H]);
    const cfg = JSON.parse(readFileSync(join(out, "config.json"), "utf8")) as Record<string, unknown>;
    expect(cfg["vocab_size"]).toBe(64);
    // <|im_start|> (only chat has it): every model contributes chat's row, so the merge is that row
    const merged = values(got.get(EMBED)!);
    expect(Array.from(merged.subarray(46 * H, 47 * H))).toEqual(Array.from(storedRow("chat", EMBED, 41)));
    // a shared token: 0.5 chat + 0.25 ext + 0.25 base of the models' own rows (bf16, linear's rounding)
    const rows = (["chat", "ext", "base"] as const).map((m) => storedRow(m, EMBED, 7));
    expect(Array.from(merged.subarray(7 * H, 8 * H))).toEqual(Array.from(wsumRef(rows, [0.5, 0.25, 0.25], 1)));
    expect(r.warnings).toContain(`1 token(s) of the output vocabulary are in none of the input models ("<|nobody|>"); their embedding rows are zero`);

    const tokJson = JSON.parse(readFileSync(join(out, "tokenizer.json"), "utf8")) as Record<string, unknown>;
    const tokCfg = JSON.parse(readFileSync(join(out, "tokenizer_config.json"), "utf8")) as Record<string, unknown>;
    expect(JSON.parse(readFileSync(join(out, "special_tokens_map.json"), "utf8"))).toEqual({ bos_token: "<s>", eos_token: "</s>", unk_token: "<unk>" });
    expect(Object.keys(tokCfg["added_tokens_decoder"] as object).map(Number)).toEqual([0, 1, 2, 40, 41, 42, 43, 44, 45, 46, 47, 48]);
    expect((tokCfg["added_tokens_decoder"] as Record<string, unknown>)["46"]).toEqual({ content: "<|im_start|>", lstrip: false, normalized: false, rstrip: false, single_word: false, special: true });
    expect((tokCfg["added_tokens_decoder"] as Record<string, unknown>)["45"]).toEqual({ content: "▁merge", lstrip: false, normalized: true, rstrip: false, single_word: false, special: false });

    const merged_ = new Tokenizer(tokJson, tokCfg);
    const baseTok = new Tokenizer(tokenizerOf("base"), tokCfg);
    const chatTok = new Tokenizer(tokenizerOf("chat"), tokCfg);
    // shared tokens encode the same as in the base and chat tokenizers
    for (const text of ["hello world", "world hello hello", "held low", "<|sys|>hello"]) {
      expect(merged_.encode(text).ids, text).toEqual(baseTok.encode(text).ids);
    }
    expect(merged_.encode("<|im_start|>hello world<|im_end|>").tokens).toEqual(["<|im_start|>", "▁hello", "▁world", "<|im_end|>"]);
    expect(merged_.encode("<|im_start|>hello").ids).toEqual([46, ...chatTok.encode("hello").ids]);
    // a token only ext had is an added token of the merged tokenizer (normalized: Hugging Face
    // tokenizers match it on the normalized text "▁hello▁merge"; tokenizers.js matches added tokens on
    // the raw text only, so it is checked through decoding here)
    expect(merged_.decode([34, 45])).toBe("hello merge");
    for (const text of ["hello world", "merge the world", "hello merge world"]) expect(merged_.decode(merged_.encode(text).ids)).toBe(text);
  });
});

describe("tokenizer: other sources and token settings", () => {
  let dir: string;
  beforeAll(() => {
    dir = tempDir();
    writeFixtures(dir);
  });
  const cfg = (tokenizer: string, extra = "") => `merge_method: linear\nbase_model: base\nmodels:\n  - model: chat\n    parameters: {weight: 1}\n  - model: ext\n    parameters: {weight: 1}\n  - model: base\n    parameters: {weight: 1}\n${tokenizer}\n${extra}`;

  it("source: base keeps the stripped base vocabulary; other models' rows follow it", async () => {
    const plan = await planOf(dir, cfg("tokenizer_source: base"));
    expect(plan.tokenizer!.size).toBe(41);
    expect(plan.tokenizer!.vocab.has("▁merge")).toBe(false);
    const e = await permuted(plan, EMBED, "ext");
    expect(e.length).toBe(41 * H);
    expect(row(e, 40)).toEqual(Array.from(storedRow("base", EMBED, 40))); // <|sys|>: ext lacks it
    expect(row(e, 39)).toEqual(Array.from(storedRow("ext", EMBED, 39)));
  });

  it("source: a model uses that model's tokenizer as it is", async () => {
    const plan = await planOf(dir, cfg("tokenizer:\n  source: chat"));
    expect(plan.tokenizer!.size).toBe(43);
    expect(plan.tokenizer!.vocab.get("<|im_end|>")).toBe(42);
    const b = await permuted(plan, EMBED, "base");
    // <|im_end|> (42): chat and ext have it, base does not: the mean
    const x = storedRow("chat", EMBED, 42);
    const y = storedRow("ext", EMBED, 45);
    expect(row(b, 42)).toEqual(Array.from(x, (xi, i) => roundBf16(Math.fround(roundBf16(xi + y[i]!) / 2))));
  });

  it("source: a tokenizer-only directory that is not merged", async () => {
    const d = tempDir();
    writeFixtures(d);
    mkdirSync(join(d, "tok"));
    writeFileSync(join(d, "tok", "tokenizer.json"), JSON.stringify(bpeTokenizerJson(["help", "hello", "world"], [{ id: 41, content: "<|sys|>" }])));
    const plan = await planOf(d, cfg("tokenizer:\n  source: tok"));
    // ▁h ▁he ▁hel ▁help ▁hell ▁hello (30-35), ▁w ... ▁world (36-40), <|sys|> (41)
    const v = plan.tokenizer!.vocab;
    expect([v.get("▁help"), v.get("▁hello"), v.get("▁world"), v.get("<|sys|>")]).toEqual([33, 35, 40, 41]);
    expect(plan.tokenizer!.size).toBe(42);
    const b = await permuted(plan, EMBED, "base");
    expect(row(b, 35)).toEqual(Array.from(storedRow("base", EMBED, 34))); // ▁hello: 34 in the models
    expect(row(b, 40)).toEqual(Array.from(storedRow("base", EMBED, 39))); // ▁world: 39
    expect(row(b, 41)).toEqual(Array.from(storedRow("base", EMBED, 40))); // <|sys|>: 40
    expect(row(b, 33)).toEqual(new Array(H).fill(0)); // ▁help: no model has it
    expect(plan.warnings).toContain(`1 token(s) of the output vocabulary are in none of the input models ("▁help"); their embedding rows are zero`);
  });

  it("tokens: force, a model's row, another token's row by text or id, and zero", async () => {
    const plan = await planOf(dir, cfg(`tokenizer:
  source: union
  tokens:
    "<|im_end|>":
      source: ext
      force: true
    "<|sys|>":
      source:
        kind: model_token
        model: chat
        token: "▁hello"
    "▁world":
      source:
        kind: model_token
        model: ext
        token_id: 3
      force: true
    "<|im_start|>":
      source:
        kind: zero`));
    const [b, c, e] = await Promise.all(["base", "chat", "ext"].map((m) => permuted(plan, EMBED, m)));
    const v = plan.tokenizer!.vocab;
    // forced: every model takes ext's <|im_end|> row
    for (const m of [b!, c!, e!]) expect(row(m, v.get("<|im_end|>")!)).toEqual(Array.from(storedRow("ext", EMBED, 45)));
    // not forced: models with <|sys|> keep theirs, ext takes chat's "▁hello" row
    expect(row(e!, 40)).toEqual(Array.from(storedRow("chat", EMBED, 34)));
    expect(row(b!, 40)).toEqual(Array.from(storedRow("base", EMBED, 40)));
    // forced by id: ext's row 3 ("▁") for every model
    for (const m of [b!, c!, e!]) expect(row(m, v.get("▁world")!)).toEqual(Array.from(storedRow("ext", EMBED, 3)));
    // zero: only models without the token take it
    expect(row(b!, v.get("<|im_start|>")!)).toEqual(new Array(H).fill(0));
    expect(row(c!, v.get("<|im_start|>")!)).toEqual(Array.from(storedRow("chat", EMBED, 41)));
  });

  it("a token source naming a model that lacks the token is an error naming the config path", async () => {
    const err = await planOf(dir, cfg(`tokenizer:\n  tokens:\n    "<|im_start|>":\n      source: ext`)).catch((x: unknown) => x);
    expect((err as AmalgamError).code).toBe("E_CONFIG");
    expect((err as AmalgamError).message).toBe(`tokenizer.tokens.<|im_start|>.source: token "<|im_start|>" is not in model ext`);
  });

  it("a model without tokenizer.json cannot take part in vocabulary merging", async () => {
    const d = tempDir();
    const noTok = fixtureModel("ext");
    writeFixtures(d, "BF16", { ext: { ...noTok, files: {} } });
    const err = await planOf(d, cfg("tokenizer_source: union")).catch((x: unknown) => x);
    expect((err as AmalgamError).code).toBe("E_TOKENIZER");
    expect((err as AmalgamError).message).toBe("ext: no tokenizer.json; tokenizer_source (vocabulary merging) needs each model's fast tokenizer (tokenizer.json)");
  });

  it("a tied model's output head is its permuted embedding matrix", async () => {
    const d = tempDir();
    writeFixtures(d, "BF16", { chat: fixtureModel("chat", "BF16", { tied: true }) });
    const plan = await planOf(d, cfg("tokenizer_source: union"));
    const c = await permuted(plan, "lm_head.weight", "chat");
    expect(row(c, 46)).toEqual(Array.from(storedRow("chat", EMBED, 41)));
    expect(row(c, 10)).toEqual(Array.from(storedRow("chat", EMBED, 10)));
  });
});

describe("embeddings without a tokenizer config", () => {
  it("are cut to the common submatrix with a warning; the donor's tokenizer and vocab_size are kept", async () => {
    const dir = tempDir();
    writeFixtures(dir);
    const out = join(dir, "out");
    const r = await runMerge("merge_method: linear\nmodels:\n  - model: chat\n    parameters: {weight: 1}\n  - model: ext\n    parameters: {weight: 0}\n", dir, out);
    expect(r.warnings).toEqual([
      `"model.embed_tokens.weight": input shapes differ (chat [43,8], ext [48,8]); using the common submatrix [43,8] as MergeKit does (set tokenizer_source to merge vocabularies instead)`,
      `"lm_head.weight": input shapes differ (chat [43,8], ext [48,8]); using the common submatrix [43,8] as MergeKit does (set tokenizer_source to merge vocabularies instead)`,
    ]);
    const got = readTensors(out);
    expect(got.get(EMBED)!.shape).toEqual([43, H]);
    const m = fixtureModel("chat");
    expect(Array.from(values(got.get(EMBED)!))).toEqual(Array.from(tensorValues(m, m.tensors.find((x) => x.name === EMBED)!)));
    expect(JSON.parse(readFileSync(join(out, "config.json"), "utf8"))["vocab_size"]).toBe(43);
    expect(JSON.parse(readFileSync(join(out, "tokenizer.json"), "utf8"))).toEqual(tokenizerOf("chat"));
  });
});
