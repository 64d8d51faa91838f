// The `tokenizer:` / `tokenizer_source:` / `chat_template:` config keys.
import { describe, expect, it } from "vitest";
import { parseMergeConfig } from "../../src/config/parse-config.ts";
import { AmalgamError } from "../../src/errors.ts";

const head = "merge_method: linear\nmodels:\n  - model: a\n  - model: b\n";

function err(yaml: string): AmalgamError {
  try {
    parseMergeConfig(head + yaml, "c.yml");
  } catch (e) {
    return e as AmalgamError;
  }
  throw new Error("no error");
}

describe("tokenizer config", () => {
  it("reads tokenizer_source as the legacy spelling of tokenizer.source", () => {
    for (const s of ["union", "base"]) expect(parseMergeConfig(`${head}tokenizer_source: ${s}\n`).tokenizer!.source).toEqual({ kind: s });
    expect(parseMergeConfig(`${head}tokenizer_source: org/model@v2\n`).tokenizer!.source).toMatchObject({ kind: "model", model: { path: "org/model", revision: "v2" } });
    expect(parseMergeConfig(head).tokenizer).toBeUndefined();
  });

  it("reads sources, tokens and pad_to_multiple_of", () => {
    const c = parseMergeConfig(`${head}tokenizer:
  pad_to_multiple_of: 64
  tokens:
    "<|im_start|>":
      source: a
    "<|im_end|>":
      source: {kind: model_token, model: b, token_id: 7}
      force: true
    "<x>":
      source: {kind: zero}
    "<y>":
      source: {kind: model_token, model: b, token: "hi"}
    "<z>":
`).tokenizer!;
    expect(c.source).toEqual({ kind: "union" });
    expect(c.padToMultipleOf).toBe(64);
    expect(c.tokens.get("<|im_start|>")).toMatchObject({ source: { kind: "model", model: { path: "a" } }, force: false });
    expect(c.tokens.get("<|im_end|>")).toMatchObject({ source: { kind: "model_token", model: { path: "b" }, tokenId: 7, token: undefined }, force: true });
    expect(c.tokens.get("<x>")).toMatchObject({ source: { kind: "zero" } });
    expect(c.tokens.get("<y>")).toMatchObject({ source: { kind: "model_token", token: "hi", tokenId: undefined } });
    expect(c.tokens.get("<z>")).toEqual({ source: undefined, force: false, path: "tokenizer.tokens.<z>" });
  });

  it.each([
    ["tokenizer_source: base\ntokenizer: {source: union}\n", `"tokenizer_source" and "tokenizer" cannot both be given; use tokenizer.source`],
    ["tokenizer: {sorce: union}\n", `unknown key "sorce"; expected one of: source, tokens, pad_to_multiple_of`],
    ["tokenizer: {pad_to_multiple_of: 0}\n", "expected a positive integer, got 0"],
    ["tokenizer: {tokens: {x: {source: {kind: model_token, model: a}}}}\n", `exactly one of "token" and "token_id" must be given`],
    ["tokenizer: {tokens: {x: {source: {kind: mean}}}}\n", `expected "model_token" or "zero", got "mean"`],
    ["tokenizer: {tokens: {x: {force: 1}}}\n", "expected true or false, got 1"],
  ])("rejects %j", (yaml, message) => {
    const e = err(yaml);
    expect(e).toBeInstanceOf(AmalgamError);
    expect(e.message).toContain(message);
  });

  it("keeps chat_template as written", () => {
    expect(parseMergeConfig(`${head}chat_template: chatml\n`).chatTemplate).toBe("chatml");
    expect(parseMergeConfig(`${head}chat_template: "{{ x }}{% for m in messages %}{% endfor %}"\n`).chatTemplate).toBe("{{ x }}{% for m in messages %}{% endfor %}");
  });
});
