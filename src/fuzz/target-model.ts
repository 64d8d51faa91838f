// Fuzz targets over a whole model directory: "index" mutates model.safetensors.index.json and its
// shards, "config" mutates config.json. Both run openModelFiles, inferStructure and a passthrough
// plan, so what the parsers accept is also what planning can use.
import { SAFETENSORS_INDEX, openModelFiles } from "../io/model-files.ts";
import { outputModelConfig } from "../output/model-config.ts";
import { buildPlan } from "../plan/build-plan.ts";
import { MAX_LAYERS, inferStructure } from "../plan/structure.ts";
import { MemoryModelDirectory, memoryResolver } from "./memory-model.ts";
import { INDEX_FILE, MODEL_REF, mutateConfig, mutateIndex, passthroughConfig, renderModel, validModel } from "./model-case.ts";
import type { ModelGenome, ModelInput } from "./model-case.ts";
import { mutateBytes } from "./mutate-bytes.ts";
import type { Rng } from "./rng.ts";
import { FuzzViolation, base64, eraseTarget } from "./target.ts";
import type { FuzzCase, FuzzTarget } from "./target.ts";

async function runModel(files: ModelInput): Promise<string> {
  const dir = new MemoryModelDirectory(MODEL_REF, files);
  const mf = await openModelFiles(dir);
  const indexBytes = files.get(SAFETENSORS_INDEX);
  if (indexBytes) {
    // What was accepted must be what the index says: JSON.parse agrees once duplicates are refused.
    const wm = (JSON.parse(new TextDecoder().decode(indexBytes)) as { weight_map: Record<string, string> }).weight_map;
    for (const [name, t] of mf.tensors) {
      if (!Object.hasOwn(wm, name) || wm[name] !== t.file) throw new FuzzViolation(`tensor ${JSON.stringify(name)} taken from ${t.file}, the index says ${String(wm[name])}`);
    }
    if (Object.keys(wm).length !== mf.tensors.size) throw new FuzzViolation(`index lists ${Object.keys(wm).length} tensors, ${mf.tensors.size} accepted`);
  }
  const s = inferStructure(mf).modules[0]!;
  if (s.numLayers > MAX_LAYERS || s.layers.length !== s.numLayers) throw new FuzzViolation(`structure with ${s.numLayers} layers (${s.layers.length} listed)`);
  const plan = await buildPlan(passthroughConfig(), { resolveModel: memoryResolver(new Map([[MODEL_REF, files]])) });
  outputModelConfig(plan);
  return `ok indexed=${indexBytes !== undefined} layers=${Math.min(s.numLayers, 3)} tensors=${Math.min(plan.tensors.length, 3)}`;
}

function havoc(rng: Rng, files: ModelInput, name: string, other: ModelInput | undefined): ModelInput {
  const b = files.get(name);
  if (!b) return files;
  const out = new Map(files);
  out.set(name, mutateBytes(rng, b, { dictionary: ["{", "}", "\"", ":", ",", "[", "]", "../", "\\u0000", "null"], maxLength: Math.max(4096, b.length * 2), other: other?.get(name) }));
  return out;
}

function toJson(files: ModelInput): unknown {
  return Object.fromEntries([...files].map(([n, b]) => [n, base64(b)]));
}

function makeTarget(name: "index" | "config", mutate: (rng: Rng, g: ModelGenome) => ModelGenome, file: string): FuzzTarget<ModelInput, ModelGenome> {
  const render = (rng: Rng, g: ModelGenome): FuzzCase<ModelInput, ModelGenome> => ({ input: renderModel(g, rng), genome: g });
  return {
    name,
    about: name === "index" ? "model.safetensors.index.json with its shards (names, mapping, limits)" : "config.json (types, layer counts, nesting)",
    names: [MODEL_REF],
    generate(rng) {
      const g = validModel(rng, name === "index" ? 1 + rng.int(3) : rng.chance(0.8) ? 0 : 2);
      return render(rng, rng.chance(0.85) ? mutate(rng, g) : g);
    },
    mutate(rng, parent, other) {
      if (parent.genome && rng.chance(0.75)) {
        let g = mutate(rng, parent.genome);
        if (rng.chance(0.3)) g = mutate(rng, g);
        return render(rng, g);
      }
      return { input: havoc(rng, parent.input, file, other.input), genome: undefined };
    },
    run: runModel,
    toJson,
  };
}

export const indexFuzzTarget = eraseTarget(makeTarget("index", mutateIndex, INDEX_FILE));
export const configFuzzTarget = eraseTarget(makeTarget("config", mutateConfig, "config.json"));
