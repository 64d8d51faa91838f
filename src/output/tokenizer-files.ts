// The tokenizer files of the output: a merged vocabulary's tokenizer (tokenizer.json,
// tokenizer_config.json, special_tokens_map.json), the donor's files copied as they are, or the
// donor's tokenizer written again with a new chat template (MergeKit's three cases).
import { AmalgamError } from "../errors.ts";
import { readJsonObject } from "../io/json-file.ts";
import { writeWhole } from "../io/storage.ts";
import type { ModelDirectory, OutputSink } from "../io/storage.ts";
import type { MergePlan } from "../plan/types.ts";
import type { AddedToken } from "../tokenizer/tokenizer-files.ts";
import { parseAddedTokens, SPECIAL_TOKENS_MAP_JSON, TOKENIZER_CONFIG_JSON, TOKENIZER_JSON } from "../tokenizer/tokenizer-files.ts";
import { MAX_SIDE_FILE_BYTES, tokenizerFilesToCopy } from "./side-files.ts";

/** tokenizer_config.json keys naming special tokens, as Transformers lists them. */
const SPECIAL_TOKEN_KEYS = ["bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token", "additional_special_tokens"] as const;

export interface TokenizerFilesOptions {
  readonly copyTokenizer?: boolean;
  readonly onWarning?: (message: string) => void;
}

/** Top-level keys sorted, as Transformers writes these files (`sort_keys=True`). */
function json(v: Record<string, unknown>): string {
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(v).sort()) out[k] = v[k];
  return JSON.stringify(out, null, 2) + "\n";
}

function addedTokensDecoder(added: readonly AddedToken[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const a of added) out[String(a.id)] = { content: a.content, lstrip: a.lstrip, normalized: a.normalized, rstrip: a.rstrip, single_word: a.single_word, special: a.special };
  return out;
}

/** tokenizer_config.json: the source's, with the added tokens of the written tokenizer and the chat template. */
function tokenizerConfig(source: Readonly<Record<string, unknown>> | undefined, added: readonly AddedToken[], chatTemplate: string | undefined): Record<string, unknown> {
  const cfg: Record<string, unknown> = structuredClone((source ?? {}) as Record<string, unknown>);
  cfg["added_tokens_decoder"] = addedTokensDecoder(added);
  if (cfg["tokenizer_class"] === undefined) cfg["tokenizer_class"] = "PreTrainedTokenizerFast";
  if (chatTemplate !== undefined) cfg["chat_template"] = chatTemplate;
  return cfg;
}

/** special_tokens_map.json: the source's, else the special tokens its tokenizer_config.json names. */
function specialTokensMap(source: Readonly<Record<string, unknown>> | undefined, cfg: Readonly<Record<string, unknown>>): Record<string, unknown> {
  if (source) return structuredClone(source as Record<string, unknown>);
  const out: Record<string, unknown> = {};
  for (const k of SPECIAL_TOKEN_KEYS) {
    const v = cfg[k];
    if (v === undefined || v === null) continue;
    if (typeof v === "object" && !Array.isArray(v)) {
      const { __type: _drop, ...rest } = v as Record<string, unknown>;
      out[k] = rest;
    } else {
      out[k] = v;
    }
  }
  return out;
}

async function readIf(dir: ModelDirectory, name: string): Promise<Record<string, unknown> | undefined> {
  return (await dir.has(name)) ? readJsonObject(dir, name) : undefined;
}

async function copy(dir: ModelDirectory, ref: string, name: string, sink: OutputSink): Promise<void> {
  const data = await dir.readFile(name);
  if (data.length > MAX_SIDE_FILE_BYTES) throw new AmalgamError("E_IO", `${ref}/${name}: ${data.length} bytes, over the ${MAX_SIDE_FILE_BYTES}-byte limit`);
  await writeWhole(sink, name, data);
}

/** Writes the output's tokenizer files; returns their names. */
export async function writeTokenizerFiles(plan: MergePlan, sink: OutputSink, options: TokenizerFilesOptions): Promise<string[]> {
  const files: string[] = [];
  const put = async (name: string, text: string) => {
    await writeWhole(sink, name, text);
    files.push(name);
  };
  const built = plan.tokenizer;
  if (built) {
    const cfg = tokenizerConfig(built.from.config, built.added, plan.chatTemplate);
    await put(TOKENIZER_JSON, JSON.stringify(built.json, null, 2) + "\n");
    await put(TOKENIZER_CONFIG_JSON, json(cfg));
    await put(SPECIAL_TOKENS_MAP_JSON, json(specialTokensMap(built.from.specialTokensMap, cfg)));
    return files;
  }
  const donor = plan.donor;
  const dir = donor.files.dir;
  if (!(options.copyTokenizer ?? true)) {
    if (plan.config.chatTemplate !== undefined) options.onWarning?.("chat_template is set but no tokenizer is written (--no-copy-tokenizer); the chat template is not saved");
    return files;
  }
  if (plan.config.chatTemplate === undefined) {
    for (const f of await tokenizerFilesToCopy(dir)) {
      await copy(dir, donor.ref.text, f, sink);
      files.push(f);
    }
    return files;
  }
  // A chat template: the donor's tokenizer is written again with it (no generation or template files).
  const hasJson = await dir.has(TOKENIZER_JSON);
  const hasModel = await dir.has("tokenizer.model");
  if (!hasJson && !hasModel) {
    options.onWarning?.(`${donor.ref.text} has no tokenizer (tokenizer.json or tokenizer.model); no tokenizer or chat template is written`);
    return files;
  }
  const name = hasJson ? TOKENIZER_JSON : "tokenizer.model";
  await copy(dir, donor.ref.text, name, sink);
  files.push(name);
  const source = await readIf(dir, TOKENIZER_CONFIG_JSON);
  const added = hasJson ? parseAddedTokens(donor.ref.text, (await readJsonObject(dir, TOKENIZER_JSON))["added_tokens"]) : [];
  const cfg = tokenizerConfig(source, added, plan.chatTemplate);
  if (!hasJson && source?.["added_tokens_decoder"] !== undefined) cfg["added_tokens_decoder"] = source["added_tokens_decoder"];
  await put(TOKENIZER_CONFIG_JSON, json(cfg));
  await put(SPECIAL_TOKENS_MAP_JSON, json(specialTokensMap(await readIf(dir, SPECIAL_TOKENS_MAP_JSON), cfg)));
  return files;
}
