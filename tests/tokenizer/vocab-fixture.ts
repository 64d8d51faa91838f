// Three tiny llamas whose vocabularies differ, for the vocabulary-merging tests:
//   base: BPE over "hello world" (ids 0-39) + added <|sys|> (40); 41 rows. Its tokenizer also has
//         <extra> at 41, past its vocab_size (no row): stripped from the base vocabulary.
//   chat: base's BPE + <|sys|> (40), <|im_start|> (41), <|im_end|> (42); 43 rows.
//   ext:  BPE over "hello world merge" (▁m ... ▁merge at 40-44) + <|im_end|> (45); a padded
//         vocabulary of 48 rows (46 and 47 are no token).
import { join } from "node:path";
import { tinyLlama } from "../fixtures/arch-checkpoints.ts";
import { writeModel } from "../fixtures/arch-write-model.ts";
import type { FixtureDType, FixtureModel } from "../fixtures/arch-write-model.ts";
import { bpeTokenizerJson, tokenizerConfigJson } from "../fixtures/arch-tokenizer-json.ts";

export const MODELS = ["base", "chat", "ext"] as const;
export type ModelName = (typeof MODELS)[number];

export const ROWS: Readonly<Record<ModelName, number>> = { base: 41, chat: 43, ext: 48 };
export const SEEDS: Readonly<Record<ModelName, number>> = { base: 11, chat: 12, ext: 13 };

export function tokenizerOf(name: ModelName): Record<string, unknown> {
  switch (name) {
    case "base": return bpeTokenizerJson(["hello", "world"], [{ id: 40, content: "<|sys|>" }, { id: 41, content: "<extra>" }]);
    case "chat": return bpeTokenizerJson(["hello", "world"], [{ id: 40, content: "<|sys|>" }, { id: 41, content: "<|im_start|>" }, { id: 42, content: "<|im_end|>" }]);
    case "ext": return bpeTokenizerJson(["hello", "world", "merge"], [{ id: 45, content: "<|im_end|>" }]);
  }
}

export function fixtureModel(name: ModelName, dtype: FixtureDType = "BF16", opts: { tied?: boolean; chatTemplate?: string } = {}): FixtureModel {
  const c = tinyLlama(ROWS[name], { tied: opts.tied });
  return {
    config: c.config, tensors: c.tensors, dtype, seed: SEEDS[name],
    files: {
      "tokenizer.json": tokenizerOf(name),
      "tokenizer_config.json": tokenizerConfigJson(opts.chatTemplate ? { chat_template: opts.chatTemplate } : {}),
      "special_tokens_map.json": { bos_token: "<s>", eos_token: "</s>", unk_token: "<unk>" },
    },
  };
}

export function writeFixtures(dir: string, dtype: FixtureDType = "BF16", edit: Partial<Record<ModelName, FixtureModel>> = {}): void {
  for (const m of MODELS) writeModel(join(dir, m), edit[m] ?? fixtureModel(m, dtype));
}
