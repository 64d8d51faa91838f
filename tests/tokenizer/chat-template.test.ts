// chat_template: the built-in templates render their formats, literal templates are checked by
// rendering, "auto" picks the most common template, and the template is written with the tokenizer.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Template } from "@huggingface/jinja";
import { describe, expect, it } from "vitest";
import { AmalgamError } from "../../src/errors.ts";
import { BUILTIN_CHAT_TEMPLATES } from "../../src/tokenizer/chat-templates.ts";
import { renderChatTemplate, resolveChatTemplate } from "../../src/tokenizer/chat-template.ts";
import { fsResolver } from "../../runtimes/node/fs-model.ts";
import { writeModel } from "../fixtures/arch-write-model.ts";
import { runMerge, tempDir } from "../helpers/run-merge.ts";
import { fixtureModel, tokenizerOf, writeFixtures } from "./vocab-fixture.ts";

const CONVERSATION = [
  { role: "system", content: "Be brief." },
  { role: "user", content: "Hi!" },
  { role: "assistant", content: "Hello." },
  { role: "user", content: "Bye?" },
];

const render = (name: string) => renderChatTemplate(BUILTIN_CHAT_TEMPLATES[name]!, CONVERSATION, name, { bosToken: "<s>", eosToken: "</s>" });

describe("built-in chat templates", () => {
  it("alpaca", () => {
    expect(render("alpaca")).toBe("<s>Be brief.\n\n### Instruction:\nHi!\n\n### Response:\nHello.</s>\n\n### Instruction:\nBye?\n\n### Response:\n");
  });
  it("chatml", () => {
    expect(render("chatml")).toBe("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi!<|im_end|>\n<|im_start|>assistant\nHello.<|im_end|>\n<|im_start|>user\nBye?<|im_end|>\n<|im_start|>assistant\n");
  });
  it("llama3", () => {
    expect(render("llama3")).toBe(
      "<s><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi!<|eot_id|>" +
      "<|start_header_id|>assistant<|end_header_id|>\n\nHello.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nBye?<|eot_id|>" +
      "<|start_header_id|>assistant<|end_header_id|>\n\n");
  });
  it("mistral (the system message joins the first user turn)", () => {
    expect(render("mistral")).toBe("<s>[INST] Be brief.\n\nHi! [/INST] Hello.</s>[INST] Bye? [/INST]");
    expect(renderChatTemplate(BUILTIN_CHAT_TEMPLATES["mistral"]!, CONVERSATION.slice(1), "mistral")).toBe("<s>[INST] Hi! [/INST] Hello.</s>[INST] Bye? [/INST]");
  });
  it("exaone (an empty system turn when there is none)", () => {
    expect(render("exaone")).toBe("[|system|]Be brief.[|endofturn|]\n[|user|]Hi!\n[|assistant|]Hello.[|endofturn|]\n[|user|]Bye?\n[|assistant|]");
    expect(renderChatTemplate(BUILTIN_CHAT_TEMPLATES["exaone"]!, CONVERSATION.slice(1, 2), "exaone", { addGenerationPrompt: false })).toBe("[|system|][|endofturn|]\n[|user|]Hi!\n");
  });
});

describe("resolving chat_template", () => {
  it("accepts a literal Jinja template that renders", async () => {
    const t = "{% for m in messages %}{{ m.role }}: {{ m.content }}\n{% endfor %}";
    expect(await resolveChatTemplate(t, [], "c")).toBe(t);
  });

  it.each([
    ["chatmlx", `c: "chatmlx" is neither "auto", a built-in template (alpaca, chatml, llama3, mistral, exaone) nor a Jinja template`],
    ["{{ messages", `c: "{{ messages" is neither "auto", a built-in template (alpaca, chatml, llama3, mistral, exaone) nor a Jinja template`],
  ])("rejects %j", async (value, message) => {
    const err = await resolveChatTemplate(value, [], "c").catch((e: unknown) => e);
    expect((err as AmalgamError).code).toBe("E_CHAT_TEMPLATE");
    expect((err as AmalgamError).message).toBe(message);
  });

  it("rejects a template that does not render", async () => {
    const err = await resolveChatTemplate("{% for m in messages %}{{ m.content }", [], "c").catch((e: unknown) => e);
    expect((err as AmalgamError).code).toBe("E_CHAT_TEMPLATE");
    expect((err as AmalgamError).message).toMatch(/^c: the chat template does not render a sample conversation: /);
  });
});

describe("chat templates in the output", () => {
  const yaml = (ct: string, extra = "") => `merge_method: linear\nmodels:\n  - model: base\n    parameters: {weight: 1}\n  - model: chat\n    parameters: {weight: 1}\n  - model: ext\n    parameters: {weight: 1}\nchat_template: ${ct}\n${extra}`;

  it("auto picks the template most models use (ties: the first model's)", async () => {
    const dir = tempDir();
    const a = "{% for m in messages %}A {{ m.content }}{% endfor %}";
    const b = "{% for m in messages %}B {{ m.content }}{% endfor %}";
    writeFixtures(dir, "BF16", {
      base: fixtureModel("base", "BF16", { chatTemplate: a }),
      chat: fixtureModel("chat", "BF16", { chatTemplate: b }),
      ext: fixtureModel("ext", "BF16", { chatTemplate: `  ${b}\n` }),
    });
    const out = join(dir, "out");
    await runMerge(yaml("auto", "tokenizer_source: union"), dir, out);
    const cfg = JSON.parse(readFileSync(join(out, "tokenizer_config.json"), "utf8")) as Record<string, unknown>;
    expect(cfg["chat_template"]).toBe(b);
    const dirs = await Promise.all(["base", "chat"].map((m) => fsResolver(dir)(m)));
    expect(await resolveChatTemplate("auto", dirs, "c")).toBe(a);
    for (const d of dirs) await d.close?.();
  });

  it("a built-in template is written into the merged tokenizer's config and renders there", async () => {
    const dir = tempDir();
    writeFixtures(dir);
    const out = join(dir, "out");
    await runMerge(yaml("chatml", "tokenizer:\n  source: union"), dir, out);
    const cfg = JSON.parse(readFileSync(join(out, "tokenizer_config.json"), "utf8")) as Record<string, unknown>;
    expect(cfg["chat_template"]).toBe(BUILTIN_CHAT_TEMPLATES["chatml"]);
    expect(new Template(cfg["chat_template"] as string).render({ messages: [{ role: "user", content: "x" }], add_generation_prompt: false })).toBe("<|im_start|>user\nx<|im_end|>\n");
  });

  it("without vocabulary merging the donor's tokenizer is written again with the template", async () => {
    const dir = tempDir();
    writeFixtures(dir);
    writeModel(join(dir, "base"), { ...fixtureModel("base"), files: { ...fixtureModel("base").files, "generation_config.json": { bos_token_id: 1 } } });
    const out = join(dir, "out");
    const r = await runMerge(yaml("llama3"), dir, out);
    expect(r.files.filter((f) => !f.endsWith(".safetensors") && f !== "README.md" && f !== "mergekit_config.yml").sort()).toEqual(["config.json", "special_tokens_map.json", "tokenizer.json", "tokenizer_config.json"]);
    const cfg = JSON.parse(readFileSync(join(out, "tokenizer_config.json"), "utf8")) as Record<string, unknown>;
    expect(cfg["chat_template"]).toBe(BUILTIN_CHAT_TEMPLATES["llama3"]);
    expect(cfg["bos_token"]).toBe("<s>");
    expect(Object.keys(cfg["added_tokens_decoder"] as object)).toEqual(["0", "1", "2", "40", "41"]);
    expect(JSON.parse(readFileSync(join(out, "tokenizer.json"), "utf8"))).toEqual(tokenizerOf("base"));
  });

  it("with --no-copy-tokenizer and no merged vocabulary the template is not written, with a warning", async () => {
    const dir = tempDir();
    writeFixtures(dir);
    const r = await runMerge(yaml("chatml"), dir, join(dir, "out"), { copyTokenizer: false });
    expect(r.files).not.toContain("tokenizer_config.json");
    expect(r.warnings).toContain("chat_template is set but no tokenizer is written (--no-copy-tokenizer); the chat template is not saved");
  });
});
