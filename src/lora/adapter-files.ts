// The files of a PEFT LoRA adapter as mergekit-extract-lora writes them: adapter_config.json
// (json.dump indent 4, Python's spelling of floats and non-ASCII) and the README card
// (card.py generate_card_lora).

export interface AdapterConfigInput {
  readonly baseModelPath: string;
  /** Rank of every decomposed module, keyed by module name. */
  readonly ranks: ReadonlyMap<string, number>;
  readonly modulesToSave: readonly string[];
}

/** Python's json.dump(..., indent=4) of a JSON value whose floats are written with a ".0". */
function pythonJson(v: unknown, floats: ReadonlySet<string>, indent = ""): string {
  const inner = indent + "    ";
  const str = (s: string) => JSON.stringify(s).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
  if (v === null) return "null";
  if (typeof v === "string") return str(v);
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  if (Array.isArray(v)) return v.length === 0 ? "[]" : `[\n${v.map((x) => inner + pythonJson(x, floats, inner)).join(",\n")}\n${indent}]`;
  const entries = Object.entries(v as Record<string, unknown>);
  if (entries.length === 0) return "{}";
  return `{\n${entries.map(([k, x]) => `${inner}${str(k)}: ${floats.has(k) && typeof x === "number" && Number.isInteger(x) ? `${x}.0` : pythonJson(x, floats, inner)}`).join(",\n")}\n${indent}}`;
}

/** adapter_config.json: r = lora_alpha = the largest real rank; smaller ranks in rank_pattern/alpha_pattern. */
export function adapterConfigJson(input: AdapterConfigInput): string {
  const maxRank = Math.max(0, ...input.ranks.values());
  const different: Record<string, number> = {};
  for (const [m, r] of input.ranks) if (r !== maxRank) different[m] = r;
  const targets = [...new Set([...input.ranks.keys()].map((m) => m.slice(m.lastIndexOf(".") + 1)))].sort();
  return pythonJson({
    base_model_name_or_path: input.baseModelPath,
    peft_type: "LORA",
    use_rslora: false,
    target_modules: targets,
    modules_to_save: input.modulesToSave,
    task_type: "CAUSAL_LM",
    r: maxRank,
    lora_alpha: maxRank,
    rank_pattern: different,
    alpha_pattern: different,
    lora_dropout: 0,
    fan_in_fan_out: false,
    inference_mode: true,
  }, new Set(["lora_dropout"]));
}

/** A path that names a Hugging Face repository (org/name) rather than a local directory. */
function isHubPath(path: string, local: boolean): boolean {
  return !local && /^[A-Za-z0-9][\w.-]*\/[\w.-]+$/.test(path);
}

export interface LoraCardInput {
  readonly name: string;
  readonly baseModel: { readonly path: string; readonly lora?: string; readonly local: boolean };
  readonly model: { readonly path: string; readonly lora?: string; readonly local: boolean };
  readonly invocation: string;
  readonly baseVocab: number | undefined;
  readonly finalVocab: number | undefined;
}

function refMd(r: LoraCardInput["model"]): string {
  const link = (p: string) => (isHubPath(p, r.local) ? `[${p}](https://huggingface.co/${p})` : p);
  return link(r.path) + (r.lora ? ` + ${link(r.lora)}` : "");
}

/** README.md of the adapter. */
export function loraCard(input: LoraCardInput): string {
  const hub = [input.baseModel, input.model].flatMap((r) => [r.path, ...(r.lora ? [r.lora] : [])].filter((p) => isHubPath(p, r.local)));
  const front = hub.length ? `base_model:\n${hub.map((h) => `- ${h}`).join("\n")}\n` : "base_model: []\n";
  let details = `This LoRA adapter was extracted from ${refMd(input.model)} and uses ${refMd(input.baseModel)} as a base.`;
  const { baseVocab: b, finalVocab: f } = input;
  if (b && f && b !== f) {
    details += `\n\n [!WARNING]\n> The vocabulary size has been ${f > b ? "extended" : "reduced"} from the base model's ${b} to ${f}. To load this adapter, you must first call \`model.resize_token_embeddings(${f})\`.`;
  }
  return `---\n${front}library_name: peft\ntags:\n- mergekit\n- peft\n\n---\n# ${input.name || "Untitled LoRA Model (1)"}\n\n` +
    `This is a LoRA extracted from a language model. It was extracted using [mergekit](https://github.com/arcee-ai/mergekit).\n\n` +
    `## LoRA Details\n\n${details}\n\n### Parameters\n\nThe following command was used to extract this LoRA adapter:\n\n\`\`\`sh\n${input.invocation}\n\`\`\`\n`;
}
