// Keys of the counter-based generator (docs/random.md): FNV-1a 64 of "seed:model:tensor:purpose".

const FNV_OFFSET = 0xcbf29ce484222325n;
const FNV_PRIME = 0x100000001b3n;
const M64 = (1n << 64n) - 1n;

export interface StreamKey {
  readonly lo: number;
  readonly hi: number;
}

/** The key of the stream for (seed, model index, tensor name, purpose). */
export function streamKey(seed: number, modelIndex: number, tensor: string, purpose: string): StreamKey {
  let h = FNV_OFFSET;
  for (const b of new TextEncoder().encode(`${seed}:${modelIndex}:${tensor}:${purpose}`)) {
    h ^= BigInt(b);
    h = (h * FNV_PRIME) & M64;
  }
  return { lo: Number(h & 0xffffffffn), hi: Number(h >> 32n) };
}

/** Plain TS reference of the generator (tests, and hosts without the kernels). */
export function uniformAt(key: StreamKey, i: number): number {
  const GOLDEN = 0x9e3779b97f4a7c15n;
  let z = ((BigInt(key.hi) << 32n) | BigInt(key.lo >>> 0)) + BigInt(i) * GOLDEN;
  z &= M64;
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & M64;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & M64;
  z ^= z >> 31n;
  return Number(z >> 40n) / 16777216;
}
