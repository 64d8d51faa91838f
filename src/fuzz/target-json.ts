// Fuzz target: the bounded JSON parser against JSON.parse. Whatever both accept must be equal;
// it may refuse what JSON.parse accepts only for a duplicate key or a limit, never the reverse.
import { AmalgamError } from "../errors.ts";
import { parseBoundedJson } from "../io/bounded-json.ts";
import type { JsonLimits } from "../io/bounded-json.ts";
import { Obj, ODD_STRINGS, emitJson, weirdValue } from "./json-model.ts";
import type { JValue } from "./json-model.ts";
import { mutateText } from "./mutate-bytes.ts";
import type { Rng } from "./rng.ts";
import { FuzzViolation, eraseTarget } from "./target.ts";
import type { FuzzTarget } from "./target.ts";

const FILE = "fuzz.json";
const LIMITS: JsonLimits = { maxLength: 1 << 20, maxDepth: 64, maxKeys: 1000, maxItems: 1000 };
const DICTIONARY = ["{", "}", "[", "]", ",", ":", "\"", "\\", "\\u", "\\ud83d\\ude00", "null", "true", "false", "-", "0", "1e", "E+", ".", " ", "\n", "\t", "\u0000", "\u2028", "\ufeff"];

function randomValue(rng: Rng, depth: number): JValue {
  const r = rng.int(depth > 3 ? 5 : 8);
  switch (r) {
    case 0: return rng.chance(0.5) ? rng.u32() - 2 ** 31 : rng.float() * 10 ** rng.range(-20, 20);
    case 1: return rng.chance(0.5) ? rng.pick(ODD_STRINGS) : String.fromCharCode(...Array.from({ length: rng.small(8) }, () => rng.int(0x3000)));
    case 2: return rng.pick([null, true, false]);
    case 3: return weirdValue(rng);
    case 4: return rng.range(-5, 5);
    case 5: case 6: return new Obj(Array.from({ length: rng.small(5) }, () => [rng.chance(0.8) ? `k${rng.int(6)}` : rng.pick(ODD_STRINGS), randomValue(rng, depth + 1)]));
    default: return Array.from({ length: rng.small(5) }, () => randomValue(rng, depth + 1));
  }
}

function same(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (Array.isArray(a)) return Array.isArray(b) && a.length === b.length && a.every((x, i) => same(x, b[i]));
  if (a && b && typeof a === "object" && typeof b === "object" && !Array.isArray(b)) {
    const ka = Object.keys(a);
    const kb = Object.keys(b);
    return ka.length === kb.length && ka.every((k, i) => k === kb[i] && same((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
  }
  return false;
}

export const jsonTarget: FuzzTarget<string, JValue> = {
  name: "json",
  about: "the bounded JSON parser, differentially against JSON.parse",
  names: [FILE],
  generate(rng) {
    const v = randomValue(rng, 0);
    return { input: emitJson(v, rng), genome: v };
  },
  mutate(rng, parent) {
    if (rng.chance(0.5)) return { input: mutateText(rng, parent.input, { dictionary: DICTIONARY, maxLength: 1 << 16 }), genome: undefined };
    const v = new Obj([["a", parent.genome ?? null], [rng.pick(ODD_STRINGS), randomValue(rng, 1)]]);
    return { input: emitJson(v, rng), genome: v };
  },
  async run(text) {
    let ours: unknown;
    let theirs: unknown;
    let oursError: AmalgamError | undefined;
    let theirsFailed = false;
    try {
      ours = parseBoundedJson(text, FILE, "E_MODEL_CONFIG", LIMITS);
    } catch (e) {
      if (!(e instanceof AmalgamError)) throw e;
      oursError = e;
    }
    try {
      theirs = JSON.parse(text);
    } catch {
      theirsFailed = true;
    }
    if (!oursError && theirsFailed) throw new FuzzViolation("accepted text that JSON.parse rejects");
    if (!oursError && !same(ours, theirs)) throw new FuzzViolation("parsed to a different value than JSON.parse");
    if (oursError && !theirsFailed && !/duplicate key|limit/.test(oursError.message)) throw new FuzzViolation(`rejected JSON that JSON.parse accepts: ${oursError.message}`);
    if (oursError) throw oursError;
    return `ok ${Array.isArray(ours) ? "array" : ours === null ? "null" : typeof ours}`;
  },
  toJson(text) {
    return { text };
  },
};

export const jsonFuzzTarget = eraseTarget(jsonTarget);
