// Byte-level "havoc" mutations, as AFL does them: bit flips, interesting values, inserted and
// deleted runs, dictionary tokens, splices from another input. Structure-aware mutators run first;
// this stage then breaks what they left well-formed.
import type { Rng } from "./rng.ts";

const INTERESTING_8 = [0, 1, 0x7f, 0x80, 0xff, 0x20, 0x22, 0x27, 0x2c, 0x2d, 0x3a, 0x5b, 0x5d, 0x7b, 0x7d, 0x5c, 0x0a, 0x09, 0x23, 0x26, 0x2a, 0x21, 0x7c, 0x3e, 0xc0, 0xed, 0xef, 0xf4];
const INTERESTING_32 = [0, 1, 2, 7, 8, 0x7f, 0x80, 0xff, 0x100, 0x7fff, 0x8000, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xffffffff];

export interface ByteMutateOptions {
  /** Tokens inserted or overwritten whole (format keywords, syntax). */
  readonly dictionary: readonly string[];
  /** Longest output; mutations that would grow past it are skipped. */
  readonly maxLength: number;
  /** Another input to splice from (crossover). */
  readonly other?: Uint8Array;
}

const enc = new TextEncoder();

function splice(a: Uint8Array, at: number, del: number, ins: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length - del + ins.length);
  out.set(a.subarray(0, at), 0);
  out.set(ins, at);
  out.set(a.subarray(at + del), at + ins.length);
  return out;
}

/** Applies 1..`stack` random byte mutations to a copy of `input`. */
export function mutateBytes(rng: Rng, input: Uint8Array, opts: ByteMutateOptions, stack = 4): Uint8Array {
  let b: Uint8Array = input.slice();
  const n = 1 + rng.int(stack);
  for (let i = 0; i < n; i++) {
    const len = b.length;
    const at = rng.int(len + 1);
    switch (rng.int(12)) {
      case 0: // flip a bit
        if (len) b[rng.int(len)]! ^= 1 << rng.int(8);
        break;
      case 1: // interesting byte
        if (len) b[rng.int(len)] = rng.pick(INTERESTING_8);
        break;
      case 2: // random byte
        if (len) b[rng.int(len)] = rng.u32() & 0xff;
        break;
      case 3: { // interesting little-endian u32 (lengths, offsets)
        if (len >= 4) {
          const p = rng.int(len - 3);
          new DataView(b.buffer, b.byteOffset).setUint32(p, rng.pick(INTERESTING_32), true);
        }
        break;
      }
      case 4: // delete a run
        if (len) b = splice(b, Math.min(at, len - 1), 1 + rng.small(Math.min(64, len - Math.min(at, len - 1) - 1)), new Uint8Array(0));
        break;
      case 5: { // duplicate a run
        if (len) {
          const s = rng.int(len);
          const run = b.slice(s, s + 1 + rng.small(63));
          if (len + run.length <= opts.maxLength) b = splice(b, at, 0, run);
        }
        break;
      }
      case 6: // insert random bytes
        if (len + 16 <= opts.maxLength) b = splice(b, at, 0, rng.bytes(1 + rng.int(16)));
        break;
      case 7: // insert a dictionary token
      case 8: {
        const tok = enc.encode(rng.pick(opts.dictionary));
        if (len + tok.length <= opts.maxLength) b = splice(b, at, 0, tok);
        break;
      }
      case 9: { // overwrite with a dictionary token
        const tok = enc.encode(rng.pick(opts.dictionary));
        if (len) b = splice(b, Math.min(at, len - 1), Math.min(tok.length, len - Math.min(at, len - 1)), tok);
        break;
      }
      case 10: // truncate
        if (len) b = b.slice(0, rng.int(len));
        break;
      case 11: { // splice from another input
        const o = opts.other;
        if (o && o.length) {
          const s = rng.int(o.length);
          const run = o.slice(s, s + 1 + rng.small(255));
          if (len + run.length <= opts.maxLength) b = splice(b, at, rng.chance(0.5) ? Math.min(run.length, len - at) : 0, run);
        }
        break;
      }
    }
  }
  return b;
}

/** mutateBytes over text (UTF-8); the result may not be valid UTF-8, which is decoded with U+FFFD. */
export function mutateText(rng: Rng, text: string, opts: ByteMutateOptions, stack = 4): string {
  const other = opts.other;
  const out = mutateBytes(rng, enc.encode(text), { ...opts, other }, stack);
  return new TextDecoder().decode(out);
}
