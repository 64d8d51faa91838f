// Fuzz target: a PyTorch checkpoint (zip + pickle) through readTorchCheckpoint. Nothing may be
// executed, and an accepted tensor must lie inside the file with a byte length that fits its shape.
import { SAFETENSORS_ELEMENT_BYTES } from "../dtype.ts";
import { readTorchCheckpoint } from "../pytorch/torch-checkpoint.ts";
import { memorySource } from "./memory-model.ts";
import type { Rng } from "./rng.ts";
import { FuzzViolation, base64, eraseTarget } from "./target.ts";
import type { FuzzCase, FuzzTarget } from "./target.ts";
import { havocTorch, mutateTorch, renderTorch, validTorch } from "./torch-case.ts";
import type { TorchGenome } from "./torch-case.ts";

const FILE = "fuzz.bin";

function render(rng: Rng, g: TorchGenome): FuzzCase<Uint8Array, TorchGenome> {
  const bytes = renderTorch(g);
  return rng.chance(0.2) ? { input: havocTorch(rng, bytes), genome: undefined } : { input: bytes, genome: g };
}

export const torchTarget: FuzzTarget<Uint8Array, TorchGenome> = {
  name: "pytorch",
  about: "PyTorch .bin checkpoint (zip directory, pickle with an allow-list, storages)",
  names: [FILE],
  generate(rng) {
    let g = validTorch(rng);
    if (rng.chance(0.8)) for (let i = 0, n = 1 + rng.small(2); i < n; i++) g = mutateTorch(rng, g);
    return render(rng, g);
  },
  mutate(rng, parent, other) {
    if (parent.genome && rng.chance(0.7)) return render(rng, mutateTorch(rng, parent.genome));
    return { input: havocTorch(rng, parent.input, other.input), genome: undefined };
  },
  async run(bytes) {
    const ck = await readTorchCheckpoint(FILE, memorySource(bytes, FILE));
    for (const [name, t] of ck.tensors) {
      const elem = SAFETENSORS_ELEMENT_BYTES[t.dtype];
      if (elem === undefined) throw new FuzzViolation(`${name}: accepted dtype ${t.dtype}`);
      let n = 1;
      for (const d of t.shape) {
        if (!Number.isSafeInteger(d) || d < 0) throw new FuzzViolation(`${name}: accepted dimension ${d}`);
        n *= d;
      }
      if (n * elem !== t.byteLength) throw new FuzzViolation(`${name}: ${t.byteLength} bytes for ${t.dtype}${JSON.stringify(t.shape)}`);
      if (!Number.isSafeInteger(t.offset) || t.offset < 0 || t.offset + t.byteLength > bytes.length) throw new FuzzViolation(`${name}: data [${t.offset}, ${t.offset + t.byteLength}) outside the ${bytes.length}-byte file`);
    }
    return `ok tensors=${Math.min(ck.tensors.size, 3)}`;
  },
  toJson(bytes) {
    return { file: base64(bytes) };
  },
};

export const torchFuzzTarget = eraseTarget(torchTarget);
