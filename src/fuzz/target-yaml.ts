// Fuzz target: MergeKit YAML through parseMergeConfig, and what it accepts through buildPlan over
// four small in-memory models, so values the parser lets through are also safe to plan with.
import { parseMergeConfig } from "../config/parse-config.ts";
import { AmalgamError } from "../errors.ts";
import { buildPlan } from "../plan/build-plan.ts";
import type { ResolveModel } from "../io/storage.ts";
import { Obj } from "./json-model.ts";
import { memoryResolver } from "./memory-model.ts";
import { renderModel } from "./model-case.ts";
import { mutateText } from "./mutate-bytes.ts";
import { Rng } from "./rng.ts";
import { validGenome } from "./safetensors-case.ts";
import type { TensorSpec } from "./safetensors-case.ts";
import { FuzzViolation, eraseTarget } from "./target.ts";
import type { FuzzCase, FuzzTarget } from "./target.ts";
import { FUZZ_MODELS, YAML_DICTIONARY, mutateLines, mutateTree, randomConfigTree, renderYamlCase } from "./yaml-case.ts";
import type { YamlGenome } from "./yaml-case.ts";

const FILE = "fuzz.yml";
const LAYERS = 4;

let resolver: ResolveModel | undefined;
/** m0..m3: four layers each, bf16 except m3 (f32), one with a tied lm_head. */
function fuzzModels(): ResolveModel {
  if (resolver) return resolver;
  const rng = new Rng(7);
  const models = new Map<string, Map<string, Uint8Array>>();
  FUZZ_MODELS.forEach((name, i) => {
    const dtype = i === 3 ? "F32" : "BF16";
    const tensors: TensorSpec[] = [{ name: "model.embed_tokens.weight", dtype, shape: [8, 4] }, { name: "model.norm.weight", dtype, shape: [4] }];
    if (i !== 2) tensors.push({ name: "lm_head.weight", dtype, shape: [8 + i, 4] });
    for (let l = 0; l < LAYERS; l++) {
      tensors.push({ name: `model.layers.${l}.self_attn.q_proj.weight`, dtype, shape: [4, 4] });
      tensors.push({ name: `model.layers.${l}.input_layernorm.weight`, dtype, shape: [4] });
    }
    const config = new Obj([["architectures", ["FuzzForCausalLM"]], ["num_hidden_layers", LAYERS], ["hidden_size", 4]]);
    models.set(name, renderModel({ config, index: undefined, shards: [["model.safetensors", validGenome(rng, tensors)]], rawText: new Map() }));
  });
  resolver = memoryResolver(models);
  return resolver;
}

function render(rng: Rng, g: YamlGenome): FuzzCase<string, YamlGenome> {
  const { text, structural } = renderYamlCase(rng, g);
  return { input: text, genome: structural ? g : undefined };
}

export const yamlTarget: FuzzTarget<string, YamlGenome> = {
  name: "yaml",
  about: "MergeKit YAML config (parse, validate, plan over in-memory models)",
  // Validation errors name the config path with line and column instead of the (one) config file.
  names: [FILE, "(plan)", " (line "],
  generate(rng) {
    let tree = randomConfigTree(rng);
    if (rng.chance(0.5)) for (let i = 0, n = 1 + rng.small(2); i < n; i++) tree = mutateTree(rng, tree);
    return render(rng, { tree });
  },
  mutate(rng, parent, other) {
    if (parent.genome && rng.chance(0.6)) return render(rng, { tree: mutateTree(rng, parent.genome.tree) });
    if (rng.chance(0.5)) return { input: mutateLines(rng, parent.input), genome: undefined };
    return { input: mutateText(rng, parent.input, { dictionary: YAML_DICTIONARY, maxLength: 1 << 16, other: new TextEncoder().encode(other.input) }), genome: undefined };
  },
  async run(text) {
    const config = parseMergeConfig(text, FILE);
    if (typeof config.mergeMethod !== "string" || (config.models === undefined) === (config.slices === undefined)) {
      throw new FuzzViolation(`accepted a config with ${config.models ? "models" : ""} ${config.slices ? "slices" : ""}`);
    }
    // Planning errors name config paths and models, not the config file: they are marked instead.
    const plan = await buildPlan(config, { resolveModel: fuzzModels(), outShardSize: 200 }).catch((e: unknown) => {
      throw e instanceof AmalgamError ? new AmalgamError(e.code, `(plan) ${e.message}`) : e;
    });
    for (const t of plan.tensors) {
      if (t.shape.some((d) => !Number.isSafeInteger(d) || d < 0)) throw new FuzzViolation(`planned ${t.name} with shape ${JSON.stringify(t.shape)}`);
    }
    return `ok ${config.mergeMethod} ${config.models ? "models" : "slices"} shards=${Math.min(plan.shards.length, 3)}`;
  },
  toJson(text) {
    return { text };
  },
};

export const yamlFuzzTarget = eraseTarget(yamlTarget);
