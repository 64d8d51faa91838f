// Structure-aware safetensors files for fuzzing: a valid file is generated from tensor specs, then
// its header is mutated as a JSON model (dtypes, shapes, offsets, duplicate and odd keys, nesting),
// its length prefix lies, its data section shrinks or grows, and finally its bytes are havocked.
import { SAFETENSORS_ELEMENT_BYTES } from "../dtype.ts";
import { Obj, ODD_STRINGS, Raw, emitJson, weirdValue } from "./json-model.ts";
import type { JValue } from "./json-model.ts";
import { mutateBytes } from "./mutate-bytes.ts";
import type { Rng } from "./rng.ts";

export interface TensorSpec {
  readonly name: string;
  readonly dtype: string;
  readonly shape: readonly number[];
}

/** A safetensors file before rendering: the header as a JSON model, the data, and prefix lies. */
export interface SafetensorsGenome {
  readonly header: Obj;
  readonly data: Uint8Array;
  /** Added to the true header length in the 8-byte prefix. */
  readonly lengthDelta: number;
  /** Replaces the prefix's high 32 bits when set. */
  readonly lengthHigh: number | undefined;
  /** Text after the JSON inside the header (padding, garbage). */
  readonly pad: string;
}

const DTYPES = Object.keys(SAFETENSORS_ELEMENT_BYTES);
const COMMON = ["F32", "BF16", "F16"];
const MODULES = ["self_attn.q_proj.weight", "self_attn.k_proj.weight", "mlp.down_proj.weight", "input_layernorm.weight", "mlp.up_proj.bias"];

export const SAFETENSORS_DICTIONARY = [
  "\"dtype\"", "\"shape\"", "\"data_offsets\"", "\"__metadata__\"", "\"F32\"", "\"BF16\"", "\"F16\"", "\"I64\"", "\"F8_E4M3\"",
  "{", "}", "[", "]", ",", ":", "\"", "\\u0000", "\\ud800", "null", "true", "-1", "1e400", "18446744073709551615",
  "9007199254740993", "[0,0]", "[]", "{}", "__proto__", "constructor", " ", "\n",
];

export function numelOf(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Random tensor specs: mostly plausible checkpoint names, float dtypes and small shapes. */
export function randomTensors(rng: Rng, max = 10): TensorSpec[] {
  const n = rng.small(max);
  const out: TensorSpec[] = [];
  const seen = new Set<string>();
  for (let i = 0; i < n; i++) {
    let name: string;
    const r = rng.int(10);
    if (r < 6) name = `model.layers.${rng.small(4)}.${rng.pick(MODULES)}`;
    else if (r === 6) name = rng.pick(["model.embed_tokens.weight", "model.norm.weight", "lm_head.weight"]);
    else if (r === 7) name = rng.pick(ODD_STRINGS);
    else name = `t${rng.int(1000)}`;
    if (seen.has(name) || name === "__metadata__") continue;
    seen.add(name);
    const rank = rng.small(3);
    const shape = Array.from({ length: rank }, () => rng.small(6));
    out.push({ name, dtype: rng.chance(0.85) ? rng.pick(COMMON) : rng.pick(DTYPES), shape });
  }
  return out;
}

/** A valid header model and data for `tensors`, data in listing order. */
export function validGenome(rng: Rng, tensors: readonly TensorSpec[], metadata: Record<string, string> | undefined = { format: "pt" }): SafetensorsGenome {
  const pairs: [string, JValue][] = [];
  if (metadata) pairs.push(["__metadata__", new Obj(Object.entries(metadata))]);
  let off = 0;
  for (const t of tensors) {
    const n = numelOf(t.shape) * SAFETENSORS_ELEMENT_BYTES[t.dtype]!;
    pairs.push([t.name, new Obj([["dtype", t.dtype], ["shape", [...t.shape]], ["data_offsets", [off, off + n]]])]);
    off += n;
  }
  if (rng.chance(0.3)) pairs.reverse();
  return { header: new Obj(pairs), data: rng.bytes(off), lengthDelta: 0, lengthHigh: undefined, pad: "" };
}

/** The file bytes of a genome; whitespace is drawn from `rng` when given. */
export function renderSafetensors(g: SafetensorsGenome, rng?: Rng): Uint8Array {
  const text = new TextEncoder().encode(emitJson(g.header, rng) + g.pad);
  const out = new Uint8Array(8 + text.length + g.data.length);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, Math.max(0, text.length + g.lengthDelta) >>> 0, true);
  dv.setUint32(4, g.lengthHigh ?? 0, true);
  out.set(text, 8);
  out.set(g.data, 8 + text.length);
  return out;
}

function clone(v: JValue): JValue {
  if (v instanceof Obj) return new Obj(v.pairs.map(([k, x]) => [k, clone(x)]));
  if (Array.isArray(v)) return v.map(clone);
  return v;
}

function tensorPairs(h: Obj): [string, JValue][] {
  return h.pairs.filter(([k]) => k !== "__metadata__");
}

/** One structural mutation of a header model / data / prefix. */
function mutateOnce(rng: Rng, g: SafetensorsGenome): SafetensorsGenome {
  const header = clone(g.header) as Obj;
  let { data, lengthDelta, lengthHigh, pad } = g;
  const entries = tensorPairs(header);
  const entry = entries.length ? rng.pick(entries) : undefined;
  const fields = entry && entry[1] instanceof Obj ? entry[1] : undefined;
  switch (rng.int(16)) {
    case 0: // dtype
      fields?.set("dtype", rng.chance(0.5) ? rng.pick(DTYPES) : rng.chance(0.5) ? rng.pick(["f32", "F32 ", "float32", "BF16\u0000", "__proto__", "toString", "constructor"]) : weirdValue(rng));
      break;
    case 1: { // shape: tweak a dimension, change rank, or replace
      const s = fields?.get("shape");
      if (Array.isArray(s) && s.length && rng.chance(0.6)) {
        const i = rng.int(s.length);
        const d = s[i];
        s[i] = typeof d === "number" ? rng.pick([d + 1, d - 1, d * 2, 0, 2 ** 31, 2 ** 53 - 1, 2 ** 53, -d, d + 0.5]) : weirdValue(rng);
      } else if (Array.isArray(s) && rng.chance(0.5)) {
        if (rng.chance(0.5)) s.push(rng.pick([0, 1, 2, 2 ** 32])); else s.pop();
      } else fields?.set("shape", weirdValue(rng));
      break;
    }
    case 2: { // data_offsets: shift, swap, copy another tensor's, or replace
      const o = fields?.get("data_offsets");
      if (Array.isArray(o) && o.length === 2 && typeof o[0] === "number" && typeof o[1] === "number") {
        const k = rng.pick([1, 2, 8, -1, -2, 2 ** 32, 2 ** 53]);
        const r = rng.int(4);
        if (r === 0) o[0] = o[0] + k;
        else if (r === 1) o[1] = o[1] + k;
        else if (r === 2) { const t = o[0]; o[0] = o[1]; o[1] = t; }
        else { o[0] = o[0] + k; o[1] = o[1] + k; }
      } else fields?.set("data_offsets", weirdValue(rng));
      break;
    }
    case 3: { // another tensor's offsets (overlap)
      const other = entries.length ? rng.pick(entries)[1] : undefined;
      if (fields && other instanceof Obj) fields.set("data_offsets", clone(other.get("data_offsets") ?? null));
      break;
    }
    case 4: // delete or add a field
      if (fields) {
        if (rng.chance(0.5)) fields.delete(rng.pick(["dtype", "shape", "data_offsets"]));
        else fields.pairs.push([rng.pick(["extra", "dtype", "offsets", "__proto__"]), weirdValue(rng)]);
      }
      break;
    case 5: // the entry itself is not an object
      if (entry) entry[1] = weirdValue(rng);
      break;
    case 6: // duplicate an entry (duplicate key)
      if (entry) header.pairs.splice(rng.int(header.pairs.length + 1), 0, [entry[0], clone(entry[1])]);
      break;
    case 7: // rename an entry
      if (entry) entry[0] = rng.chance(0.5) ? rng.pick(ODD_STRINGS) : `${entry[0]}${rng.int(10)}`;
      break;
    case 8: { // delete an entry (leaves a gap) or reorder
      if (entries.length && rng.chance(0.5)) header.pairs.splice(header.pairs.indexOf(entries[rng.int(entries.length)]!), 1);
      else header.pairs.reverse();
      break;
    }
    case 9: { // metadata
      const r = rng.int(4);
      if (r === 0) header.set("__metadata__", weirdValue(rng));
      else if (r === 1) header.set("__metadata__", new Obj([["format", weirdValue(rng)]]));
      else if (r === 2) header.set("__metadata__", new Obj([["__proto__", "x"], ["a", "b"]]));
      else header.delete("__metadata__");
      break;
    }
    case 10: // data section shorter or longer
      data = rng.chance(0.5) ? data.slice(0, rng.int(data.length + 1)) : Uint8Array.from([...data, ...rng.bytes(1 + rng.small(16))]);
      break;
    case 11: // the length prefix lies
      if (rng.chance(0.7)) lengthDelta = rng.pick([1, -1, 2, -2, 7, 8, -8, 100, 1 << 20, -(1 << 20), 2 ** 31]);
      else lengthHigh = rng.pick([1, 0x7fffffff, 0xffffffff]);
      break;
    case 12: // text after the JSON inside the header
      pad = rng.pick(["        ", "\u0000\u0000", " x", "}", "\n", "   \t", "{}", ","]);
      break;
    case 13: // many zero-size tensors (the tensor-count limit and map building)
      if (header.pairs.length < 100) for (let i = 0, n = rng.pick([50, 300, 2000]); i < n; i++) header.pairs.push([`z${i}`, new Obj([["dtype", "F32"], ["shape", [0]], ["data_offsets", [0, 0]]])]);
      break;
    case 14: // deep nesting or raw text as a value
      if (fields) fields.set(rng.pick(["shape", "data_offsets", "dtype"]), weirdValue(rng));
      else header.pairs.push(["x", new Raw(rng.pick(["[".repeat(1000) + "]".repeat(1000), "1e400", "NaN"]))]);
      break;
    default: { // a fresh valid tensor appended (data grows to match)
      const n = 4 * rng.small(8);
      header.pairs.push([`extra${rng.int(100)}`, new Obj([["dtype", "F32"], ["shape", [n / 4]], ["data_offsets", [data.length, data.length + n]]])]);
      data = Uint8Array.from([...data, ...rng.bytes(n)]);
      break;
    }
  }
  return { header, data, lengthDelta, lengthHigh, pad };
}

/** 1..`stack` structural mutations. */
export function mutateSafetensorsGenome(rng: Rng, g: SafetensorsGenome, stack = 3): SafetensorsGenome {
  let out = g;
  for (let i = 0, n = 1 + rng.int(stack); i < n; i++) out = mutateOnce(rng, out);
  return out;
}

/** Byte havoc over a rendered file, aimed mostly at the header. */
export function havocSafetensors(rng: Rng, bytes: Uint8Array, other?: Uint8Array): Uint8Array {
  return mutateBytes(rng, bytes, { dictionary: SAFETENSORS_DICTIONARY, maxLength: Math.max(bytes.length * 2, 4096), other });
}
