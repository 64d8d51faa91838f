// The architectures Amalgam knows, looked up by config.json's `architectures[0]` (disambiguated by
// `model_type`). An explicit table: adding an architecture is adding a JSON file and a line here.
import cohere from "./data/cohere.json" with { type: "json" };
import falcon from "./data/falcon.json" with { type: "json" };
import gemma from "./data/gemma.json" with { type: "json" };
import gemma2 from "./data/gemma2.json" with { type: "json" };
import gemma3 from "./data/gemma3.json" with { type: "json" };
import gpt2 from "./data/gpt2.json" with { type: "json" };
import gptNeox from "./data/gpt_neox.json" with { type: "json" };
import llama from "./data/llama.json" with { type: "json" };
import llava from "./data/llava.json" with { type: "json" };
import mistral from "./data/mistral.json" with { type: "json" };
import mixtral from "./data/mixtral.json" with { type: "json" };
import olmo2 from "./data/olmo2.json" with { type: "json" };
import phi3 from "./data/phi3.json" with { type: "json" };
import qwen2 from "./data/qwen2.json" with { type: "json" };
import qwen2Moe from "./data/qwen2_moe.json" with { type: "json" };
import qwen3 from "./data/qwen3.json" with { type: "json" };
import qwen3Moe from "./data/qwen3_moe.json" with { type: "json" };
import starcoder2 from "./data/starcoder2.json" with { type: "json" };
import { parseArchitecture } from "./parse-architecture.ts";
import type { ArchitectureDef } from "./types.ts";

const DATA: Readonly<Record<string, unknown>> = {
  cohere, falcon, gemma, gemma2, gemma3, gpt2, gpt_neox: gptNeox, llama, llava, mistral, mixtral, olmo2, phi3,
  qwen2, qwen2_moe: qwen2Moe, qwen3, qwen3_moe: qwen3Moe, starcoder2,
};

let table: readonly ArchitectureDef[] | undefined;

/** Every known architecture, parsed and validated once. */
export function knownArchitectures(): readonly ArchitectureDef[] {
  table ??= Object.entries(DATA).map(([file, raw]) => parseArchitecture(raw, `src/arch/data/${file}.json`));
  return table;
}

/**
 * The layout for a model's config.json: by `architectures[0]`, narrowed by `model_type` when
 * several layouts claim the class; by `model_type` alone when `architectures` is absent.
 * Undefined when unknown (the caller infers the layout from tensor names).
 */
export function findArchitecture(config: Readonly<Record<string, unknown>>, known: readonly ArchitectureDef[] = knownArchitectures()): ArchitectureDef | undefined {
  const archs = config["architectures"];
  const modelType = typeof config["model_type"] === "string" ? config["model_type"] : undefined;
  const cls = Array.isArray(archs) && typeof archs[0] === "string" ? archs[0] : undefined;
  if (cls === undefined) return modelType === undefined ? undefined : known.find((a) => a.modelType === modelType);
  const candidates = known.filter((a) => a.architectures.includes(cls));
  if (candidates.length <= 1) return candidates[0];
  return candidates.find((a) => a.modelType === modelType) ?? candidates[0];
}

/** How a config names its architecture, for messages. */
export function architectureName(config: Readonly<Record<string, unknown>>): string {
  const archs = config["architectures"];
  if (Array.isArray(archs) && typeof archs[0] === "string") return archs[0];
  return typeof config["model_type"] === "string" ? `model_type ${config["model_type"]}` : "an unnamed architecture";
}
