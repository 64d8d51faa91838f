// Fuzz target: one safetensors file through readSafetensorsHeader. An accepted header must keep
// every promise (known dtype, byte length = elements x size, data inside the file and tiling it).
import { SAFETENSORS_ELEMENT_BYTES } from "../dtype.ts";
import { readSafetensorsHeader } from "../io/safetensors-header.ts";
import type { SafetensorsHeader } from "../io/safetensors-header.ts";
import { memorySource } from "./memory-model.ts";
import { havocSafetensors, mutateSafetensorsGenome, randomTensors, renderSafetensors, validGenome } from "./safetensors-case.ts";
import type { SafetensorsGenome } from "./safetensors-case.ts";
import { FuzzViolation, base64, eraseTarget } from "./target.ts";
import type { FuzzCase, FuzzTarget } from "./target.ts";
import type { Rng } from "./rng.ts";

const FILE = "fuzz.safetensors";

/** Checks an accepted header against the file it came from; throws FuzzViolation. */
export function checkAcceptedHeader(h: SafetensorsHeader, size: number): void {
  const spans: [number, number][] = [];
  for (const [name, t] of h.tensors) {
    if (!Object.hasOwn(SAFETENSORS_ELEMENT_BYTES, t.dtype)) throw new FuzzViolation(`${name}: accepted dtype ${JSON.stringify(t.dtype)}`);
    let n = 1;
    for (const d of t.shape) {
      if (!Number.isSafeInteger(d) || d < 0) throw new FuzzViolation(`${name}: accepted dimension ${d}`);
      n *= d;
    }
    if (n * SAFETENSORS_ELEMENT_BYTES[t.dtype]! !== t.byteLength) throw new FuzzViolation(`${name}: ${t.byteLength} bytes for ${t.dtype}${JSON.stringify(t.shape)}`);
    if (t.offset < h.dataStart || t.offset + t.byteLength > size) throw new FuzzViolation(`${name}: data [${t.offset}, ${t.offset + t.byteLength}) outside [${h.dataStart}, ${size})`);
    spans.push([t.offset, t.offset + t.byteLength]);
  }
  spans.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let end = h.dataStart;
  for (const [b, e] of spans) {
    if (b !== end) throw new FuzzViolation(`data spans do not tile the data section (a span starts at ${b}, expected ${end})`);
    end = e;
  }
  if (end !== size) throw new FuzzViolation(`data spans end at ${end}, the file at ${size}`);
}

function render(rng: Rng, g: SafetensorsGenome): FuzzCase<Uint8Array, SafetensorsGenome> {
  const bytes = renderSafetensors(g, rng);
  return rng.chance(0.2) ? { input: havocSafetensors(rng, bytes), genome: undefined } : { input: bytes, genome: g };
}

export const safetensorsTarget: FuzzTarget<Uint8Array, SafetensorsGenome> = {
  name: "safetensors",
  about: "safetensors header (length prefix, JSON, dtypes, shapes, offsets)",
  names: [FILE],
  generate(rng) {
    const g = validGenome(rng, randomTensors(rng), rng.chance(0.7) ? { format: "pt" } : undefined);
    return render(rng, rng.chance(0.8) ? mutateSafetensorsGenome(rng, g) : g);
  },
  mutate(rng, parent, other) {
    if (parent.genome && rng.chance(0.7)) return render(rng, mutateSafetensorsGenome(rng, parent.genome));
    return { input: havocSafetensors(rng, parent.input, other.input), genome: undefined };
  },
  async run(bytes) {
    const h = await readSafetensorsHeader(FILE, memorySource(bytes, FILE));
    checkAcceptedHeader(h, bytes.length);
    return `ok tensors=${Math.min(h.tensors.size, 3)} metadata=${Object.keys(h.metadata).length > 0}`;
  },
  toJson(bytes) {
    return { file: base64(bytes) };
  },
};

export const safetensorsFuzzTarget = eraseTarget(safetensorsTarget);
