// The MoE output architectures of mergekit-moe (moe/mixtral.py, deepseek.py, qwen.py, qwen3.py) as
// data: which inputs each accepts, how a dense model's MLP tensors are renamed per expert, where
// the routers go, and the config.json edits. The experts are written one tensor per expert (the
// layout transformers 4 loads, and transformers 5 converts on load).

export interface ArchitectureCheck {
  readonly sharedExperts: number;
  /** Whether the shared experts have prompts. */
  readonly sharedPrompted: boolean;
  readonly gateMode: string;
  /** model_type of the base, the experts and the shared experts. */
  readonly modelTypes: readonly string[];
}

export interface MoeArchitecture {
  readonly name: string;
  /** Why this architecture cannot take the config, or undefined when it can. */
  unsupported(c: ArchitectureCheck): string | undefined;
  /** Output name of an MLP tensor (`...mlp.<proj>.weight`) of expert `e`. */
  expertName(name: string, e: number): string;
  /** Output name of an MLP tensor of the shared expert. */
  sharedName?(name: string): string;
  routerName(layer: number): string;
  sharedRouterName?(layer: number): string;
  /** config.json edits; `base` is the base model's config (a copy). */
  outputConfig(base: Record<string, unknown>, experts: number, shared: number, expertsPerToken: number): Record<string, unknown>;
  /** llama.cpp wants a power-of-two expert count: warn otherwise. */
  readonly powerOfTwo: boolean;
  /** Zero q/k/v biases where the inputs have none (Qwen2-MoE wants attention biases). */
  readonly attentionBiases: boolean;
  /** config.json is written by json.dump(indent=4) in insertion order (else sorted, indent 2). */
  readonly pythonJson: boolean;
}

function sameType(types: readonly string[], allowed: readonly string[], arch: string): string | undefined {
  if (new Set(types).size !== 1) return `${arch} requires all input models to have the same architecture (model_type ${[...new Set(types)].join(", ")})`;
  if (!allowed.includes(types[0]!)) return `${arch} requires ${allowed.join(" or ")} input models, not ${types[0]}`;
  return undefined;
}

const replaceMlp = (name: string, e: number) => name.replace(".mlp.", `.mlp.experts.${e}.`);

export const MIXTRAL: MoeArchitecture = {
  name: "Mixtral",
  unsupported: (c) => (c.sharedExperts ? "Mixtral does not support shared experts" : sameType(c.modelTypes, ["llama", "mistral"], "Mixtral")),
  expertName: (name, e) => name
    .replace(".mlp.gate_proj", `.block_sparse_moe.experts.${e}.w1`)
    .replace(".mlp.down_proj", `.block_sparse_moe.experts.${e}.w2`)
    .replace(".mlp.up_proj", `.block_sparse_moe.experts.${e}.w3`),
  routerName: (l) => `model.layers.${l}.block_sparse_moe.gate.weight`,
  outputConfig: (base, experts, _shared, ept) => ({
    ...base,
    architectures: ["MixtralForCausalLM"],
    model_type: "mixtral",
    num_local_experts: experts,
    num_experts_per_tok: ept,
    sliding_window: null,
  }),
  powerOfTwo: true,
  attentionBiases: false,
  pythonJson: false,
};

export const DEEPSEEK: MoeArchitecture = {
  name: "DeepSeek MoE",
  unsupported: (c) => {
    if (c.sharedExperts > 1) return "DeepSeek MoE does not support more than one shared expert";
    if (c.sharedExperts && c.sharedPrompted) return "DeepSeek MoE does not support gating shared experts (give the shared expert no prompts)";
    return sameType(c.modelTypes, ["llama", "mistral"], "DeepSeek MoE");
  },
  expertName: replaceMlp,
  sharedName: (name) => name.replace(".mlp.", ".mlp.shared_experts."),
  routerName: (l) => `model.layers.${l}.mlp.gate.weight`,
  outputConfig: (base, experts, shared, ept) => ({
    ...base,
    architectures: ["DeepseekForCausalLM"],
    model_type: "deepseek",
    n_routed_experts: experts,
    n_shared_experts: shared || null,
    num_experts_per_tok: ept,
    first_k_dense_replace: 0,
    moe_layer_freq: 1,
    scoring_func: "softmax",
    norm_topk_prob: true,
    moe_intermediate_size: base["intermediate_size"],
    auto_map: {
      AutoConfig: "deepseek-ai/deepseek-moe-16b-base--configuration_deepseek.DeepseekConfig",
      AutoModel: "deepseek-ai/deepseek-moe-16b-base--modeling_deepseek.DeepseekModel",
      AutoModelForCausalLM: "deepseek-ai/deepseek-moe-16b-base--modeling_deepseek.DeepseekForCausalLM",
    },
  }),
  powerOfTwo: false,
  attentionBiases: false,
  pythonJson: true,
};

export const QWEN2_MOE: MoeArchitecture = {
  name: "Qwen MoE",
  unsupported: (c) => {
    if (c.sharedExperts !== 1) return "Qwen MoE requires exactly one shared expert";
    if (c.gateMode !== "random" && !c.sharedPrompted) return "Qwen MoE requires the shared expert to have prompts (unless gate_mode is random)";
    return sameType(c.modelTypes, ["llama", "mistral", "qwen2"], "Qwen MoE");
  },
  expertName: replaceMlp,
  sharedName: (name) => name.replace(".mlp.", ".mlp.shared_expert."),
  routerName: (l) => `model.layers.${l}.mlp.gate.weight`,
  sharedRouterName: (l) => `model.layers.${l}.mlp.shared_expert_gate.weight`,
  outputConfig: (base, experts, _shared, ept) => ({
    ...base,
    architectures: ["Qwen2MoeForCausalLM"],
    model_type: "qwen2_moe",
    num_experts: experts,
    num_experts_per_tok: ept,
    decoder_sparse_step: 1,
    norm_topk_prob: true,
    sliding_window: null,
    use_sliding_window: false,
    shared_expert_intermediate_size: base["intermediate_size"],
    moe_intermediate_size: base["intermediate_size"],
  }),
  powerOfTwo: true,
  attentionBiases: true,
  pythonJson: false,
};

export const QWEN3_MOE: MoeArchitecture = {
  name: "Qwen3 MoE",
  unsupported: (c) => {
    if (c.sharedExperts) return "Qwen3 MoE does not support shared experts";
    return c.modelTypes.every((t) => t === "qwen3") ? undefined : "Qwen3 MoE only supports Qwen3 input models";
  },
  expertName: replaceMlp,
  routerName: (l) => `model.layers.${l}.mlp.gate.weight`,
  outputConfig: (base, experts, _shared, ept) => ({
    ...base,
    architectures: ["Qwen3MoeForCausalLM"],
    model_type: "qwen3_moe",
    num_experts: experts,
    num_experts_per_tok: ept,
    decoder_sparse_step: 1,
    norm_topk_prob: true,
    moe_intermediate_size: base["intermediate_size"],
  }),
  powerOfTwo: true,
  attentionBiases: false,
  pythonJson: false,
};

/** In MergeKit's order (moe/__init__.py); Mixtral wins when it fits. */
export const MOE_ARCHITECTURES: readonly MoeArchitecture[] = [MIXTRAL, DEEPSEEK, QWEN2_MOE, QWEN3_MOE];

export interface ArchitectureChoice {
  readonly arch: MoeArchitecture;
  readonly warnings: readonly string[];
}

/** select_output_arch: `architecture:` prefix-matches names; Mixtral first, else the first that fits. */
export function selectArchitecture(requested: string | undefined, check: ArchitectureCheck): ArchitectureChoice | { readonly error: string } {
  const all = MOE_ARCHITECTURES.map((a) => a.name).join(", ");
  const named = requested ? MOE_ARCHITECTURES.filter((a) => a.name.toLowerCase().startsWith(requested.toLowerCase())) : MOE_ARCHITECTURES;
  if (!named.length) return { error: `no MoE output architecture matches "${requested}"; supported: ${all}` };
  const reasons = named.map((a) => [a, a.unsupported(check)] as const);
  const fits = reasons.filter(([, r]) => r === undefined).map(([a]) => a);
  if (!fits.length) return { error: `no MoE output architecture fits these models: ${reasons.map(([a, r]) => `${a.name}: ${r}`).join("; ")}` };
  const mixtral = fits.find((a) => a === MIXTRAL);
  if (mixtral) return { arch: mixtral, warnings: [] };
  return { arch: fits[0]!, warnings: fits.length > 1 ? [`several MoE output architectures fit (${fits.map((a) => a.name).join(", ")}); using ${fits[0]!.name}`] : [] };
}
