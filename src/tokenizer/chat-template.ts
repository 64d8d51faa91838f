// `chat_template:` resolved to a Jinja template (MergeKit's _set_chat_template): "auto" picks the
// template most models use, a built-in name picks ours, anything else must be a Jinja template.
// Every template is checked by rendering a sample conversation.
import { Template } from "@huggingface/jinja";
import { AmalgamError } from "../errors.ts";
import { readJsonObject } from "../io/json-file.ts";
import type { ModelDirectory } from "../io/storage.ts";
import { BUILTIN_CHAT_TEMPLATES } from "./chat-templates.ts";

/** A literal template shorter than this (or without "{") is taken for a misspelt name, as MergeKit does. */
export const MIN_TEMPLATE_LENGTH = 20;
/** chat_template.jinja files larger than this are refused. */
const MAX_TEMPLATE_BYTES = 1 << 20;

export const SAMPLE_CONVERSATION: readonly { role: string; content: string }[] = [
  { role: "user", content: "Hello! What is 2 + 2?" },
  { role: "assistant", content: "2 + 2 is 4." },
  { role: "user", content: "Thanks." },
];

/** Renders `template` over `messages` with the usual variables; throws E_CHAT_TEMPLATE naming `where`. */
export function renderChatTemplate(template: string, messages: readonly { role: string; content: string }[], where: string, options: { bosToken?: string; eosToken?: string; addGenerationPrompt?: boolean } = {}): string {
  try {
    return new Template(template).render({
      messages: messages.map((m) => ({ ...m })), bos_token: options.bosToken ?? "<s>", eos_token: options.eosToken ?? "</s>",
      add_generation_prompt: options.addGenerationPrompt ?? true,
    });
  } catch (e) {
    throw new AmalgamError("E_CHAT_TEMPLATE", `${where}: the chat template does not render a sample conversation: ${(e as Error).message}`, { cause: e });
  }
}

/** A model's chat template: chat_template.jinja, chat_template.json, or tokenizer_config.json's. */
export async function readChatTemplate(dir: ModelDirectory): Promise<string | undefined> {
  if (await dir.has("chat_template.jinja")) {
    const bytes = await dir.readFile("chat_template.jinja");
    if (bytes.length > MAX_TEMPLATE_BYTES) throw new AmalgamError("E_CHAT_TEMPLATE", `${dir.ref}/chat_template.jinja: ${bytes.length} bytes, over the ${MAX_TEMPLATE_BYTES}-byte limit`);
    return new TextDecoder().decode(bytes);
  }
  for (const file of ["chat_template.json", "tokenizer_config.json"]) {
    if (!(await dir.has(file))) continue;
    const t = templateField((await readJsonObject(dir, file))["chat_template"]);
    if (t !== undefined) return t;
  }
  return undefined;
}

/** A `chat_template` value: a string, or a list of {name, template} whose "default" is used. */
function templateField(v: unknown): string | undefined {
  if (typeof v === "string") return v;
  if (Array.isArray(v)) {
    const d = v.find((x) => typeof x === "object" && x !== null && (x as Record<string, unknown>)["name"] === "default") as Record<string, unknown> | undefined;
    return typeof d?.["template"] === "string" ? d["template"] : undefined;
  }
  return undefined;
}

/**
 * The template to write for `chat_template: value`, or undefined when "auto" finds none among the
 * models (their order breaks ties: the first template seen among the most common wins).
 */
export async function resolveChatTemplate(value: string, models: readonly ModelDirectory[], where: string): Promise<string | undefined> {
  let template: string;
  if (value === "auto") {
    const counts = new Map<string, number>();
    for (const dir of models) {
      const t = (await readChatTemplate(dir))?.trim();
      if (t) counts.set(t, (counts.get(t) ?? 0) + 1);
    }
    let best: string | undefined;
    for (const [t, n] of counts) if (best === undefined || n > counts.get(best)!) best = t;
    if (best === undefined) return undefined;
    template = best;
  } else if (Object.hasOwn(BUILTIN_CHAT_TEMPLATES, value)) {
    template = BUILTIN_CHAT_TEMPLATES[value]!;
  } else if (value.length < MIN_TEMPLATE_LENGTH || !value.includes("{")) {
    throw new AmalgamError("E_CHAT_TEMPLATE", `${where}: ${JSON.stringify(value)} is neither "auto", a built-in template (${Object.keys(BUILTIN_CHAT_TEMPLATES).join(", ")}) nor a Jinja template`);
  } else {
    template = value;
  }
  renderChatTemplate(template, SAMPLE_CONVERSATION, where);
  return template;
}
