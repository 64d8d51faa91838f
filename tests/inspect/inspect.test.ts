// inspect: a model's summary from headers only — locally and over HTTP Range (no tensor data read).
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startRangeServer } from "../helpers/range-server.ts";
import type { RangeServer } from "../helpers/range-server.ts";
import { httpResolver } from "../../src/io/http-model.ts";
import type { InspectReport } from "../../src/inspect/model-summary.ts";
import { compareTokenizers, tokenTable } from "../../src/inspect/tokenizer-info.ts";
import { tensorMatcher } from "../../src/inspect/tensor-pattern.ts";
import { layerRanges } from "../../src/inspect/layer-groups.ts";
import { cli } from "./cli-host.ts";
import { derivedModel, EXAMPLES } from "./fixtures.ts";

let server: RangeServer;
beforeAll(async () => { server = await startRangeServer(EXAMPLES); });
afterAll(async () => { await server.close(); });

describe("amalgam inspect", () => {
  it("summarises a sharded model: architecture, layers, parameters, shards, tokenizer, folded tensors", async () => {
    const r = await cli(["inspect", join(EXAMPLES, "ft_sparse")]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/architecture\s+LlamaForCausalLM \(llama\)/);
    expect(r.stdout).toMatch(/layers\s+4 \(num_hidden_layers\), prefix model\.layers/);
    expect(r.stdout).toMatch(/parameters\s+181 K \(180800\) in 39 tensors/);
    expect(r.stdout).toMatch(/model-00004-of-00004\.safetensors \(1 tensor, /);
    expect(r.stdout).toMatch(/tokenizer\s+WordLevel; 256 tokens \(3 added\); special <unk> <s> <\/s>/);
    expect(r.stdout).toMatch(/model\.layers\.\{0-3\}\.mlp\.up_proj\.weight\s+BF16\s+\[128, 64\]/);
    const j = (await cli(["inspect", join(EXAMPLES, "ft_sparse"), "--json"])).result<InspectReport>();
    expect(j).toMatchObject({ architecture: "LlamaForCausalLM", modelType: "llama", layers: 4, parameters: 180800, bytes: 361600 });
    expect(j.shards.map((s) => s.file)).toEqual([1, 2, 3, 4].map((i) => `model-0000${i}-of-00004.safetensors`));
    expect(j.shards.reduce((a, s) => a + s.tensors, 0)).toBe(39);
    expect(j.tensors.filter((t) => t.role === "layer").length).toBe(36);
    expect(j.tensors.find((t) => t.name === "lm_head.weight")).toMatchObject({ role: "post", layer: null, dtype: "BF16", shape: [256, 64] });
    expect(j.tokenizer).toMatchObject({ type: "WordLevel", vocabSize: 256, addedTokens: 3, bos: "<s>", eos: "</s>", chatTemplate: false });
  });

  it("over HTTP reads only headers and small files: no tensor data crosses the network", async () => {
    const before = server.stats.bytes;
    const r = await cli(["inspect", `${server.url}/ft_sparse`, "--json"], { resolveModel: httpResolver({}) });
    expect(r.code, r.stderr).toBe(0);
    const sent = server.stats.bytes - before;
    const dir = join(EXAMPLES, "ft_sparse");
    const weights = readdirSync(dir).filter((f) => f.endsWith(".safetensors")).reduce((a, f) => a + statSync(join(dir, f)).size, 0);
    const side = readdirSync(dir).filter((f) => !f.endsWith(".safetensors")).reduce((a, f) => a + statSync(join(dir, f)).size, 0);
    expect(sent - side).toBeLessThan(0.05 * weights);
    const local = (await cli(["inspect", dir, "--json"])).result<InspectReport>();
    expect({ ...r.result<InspectReport>(), model: "" }).toEqual({ ...local, model: "" });
  });

  it("warns when config.json and the embedding disagree; --tensor filters the list", async () => {
    const m = derivedModel("base", () => {}, { config: (c) => { c["vocab_size"] = 300; } });
    const r = (await cli(["inspect", m, "--json", "--tensor", "embed"])).result<InspectReport>();
    expect(r.warnings).toEqual([expect.stringMatching(/vocab_size is 300 but model\.embed_tokens\.weight has 256 rows/)]);
    expect(r.tensors.map((t) => t.name)).toEqual(["model.embed_tokens.weight"]);
    expect(r.parameters).toBe(180800);
  });
});

describe("tokenizer tables", () => {
  it("reads BPE / WordLevel vocab objects, Unigram lists and added tokens", () => {
    const bpe = tokenTable({ model: { type: "BPE", vocab: { a: 0, b: 1 } }, added_tokens: [{ id: 2, content: "<eos>", special: true }] }, "t");
    expect([...bpe.tokens]).toEqual([[0, "a"], [1, "b"], [2, "<eos>"]]);
    expect(bpe).toMatchObject({ type: "BPE", added: 1, specials: ["<eos>"] });
    const uni = tokenTable({ model: { type: "Unigram", vocab: [["<unk>", 0], ["x", -1.5]] } }, "t");
    expect([...uni.tokens]).toEqual([[0, "<unk>"], [1, "x"]]);
    expect(() => tokenTable({ model: { vocab: { a: -1 } } }, "t.json")).toThrow(/t\.json: model\.vocab\["a"\] is not a token id/);
    expect(() => tokenTable({ added_tokens: [{ id: "1" }] }, "t.json")).toThrow(/added_tokens/);
  });

  it("compares two tables by id", () => {
    const t = (m: Record<number, string>) => ({ summary: {} as never, tokens: new Map(Object.entries(m).map(([k, v]) => [Number(k), v])) });
    const c = compareTokenizers("A", t({ 0: "a", 1: "b", 2: "c" }), "B", t({ 0: "a", 1: "x", 3: "d" }));
    expect(c).toMatchObject({ compared: true, identical: false, differing: 1, onlyA: 1, onlyB: 1 });
    expect(c.examples).toEqual([{ id: 1, a: "b", b: "x" }, { id: 2, a: "c", b: null }, { id: 3, a: null, b: "d" }]);
    expect(compareTokenizers("A", undefined, "B", t({})).compared).toBe(false);
  });
});

describe("--tensor patterns and layer ranges", () => {
  it("matches substrings, or globs over the whole name", () => {
    expect(tensorMatcher("self_attn")("model.layers.0.self_attn.q_proj.weight")).toBe(true);
    expect(tensorMatcher("*.1.mlp.*")("model.layers.1.mlp.up_proj.weight")).toBe(true);
    expect(tensorMatcher("*.1.mlp.*")("model.layers.11.mlp.up_proj.weight")).toBe(false);
    expect(tensorMatcher("lm_head.weigh?")("lm_head.weight")).toBe(true);
    expect(tensorMatcher("a.b")("axb")).toBe(false);
    expect(() => tensorMatcher("")).toThrow(/empty pattern/);
  });
  it("folds layer numbers into ranges", () => {
    expect(layerRanges([0, 1, 2, 5, 7, 8])).toBe("0-2,5,7-8");
    expect(layerRanges([3])).toBe("3");
  });
});
