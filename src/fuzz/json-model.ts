// A JSON value model for structure-aware fuzzing that can say what a JS object cannot: key order,
// duplicate keys and raw text fragments (1e400, NaN, unbalanced brackets) placed anywhere.
import type { Rng } from "./rng.ts";

export class Raw {
  constructor(readonly text: string) {}
}

export class Obj {
  constructor(readonly pairs: [string, JValue][]) {}
  get(key: string): JValue | undefined {
    for (const [k, v] of this.pairs) if (k === key) return v;
    return undefined;
  }
  set(key: string, value: JValue): void {
    for (const p of this.pairs) if (p[0] === key) { p[1] = value; return; }
    this.pairs.push([key, value]);
  }
  delete(key: string): void {
    const i = this.pairs.findIndex((p) => p[0] === key);
    if (i >= 0) this.pairs.splice(i, 1);
  }
}

export type JValue = null | boolean | number | string | JValue[] | Obj | Raw;

const SPACES = ["", " ", "\n", "  ", "\t", "\r\n"];

/** Serializes; with `rng`, whitespace between tokens is random (still valid JSON). */
export function emitJson(v: JValue, rng?: Rng): string {
  const ws = () => (rng && rng.chance(0.1) ? rng.pick(SPACES) : "");
  const out: string[] = [];
  const go = (x: JValue): void => {
    if (x instanceof Raw) out.push(x.text);
    else if (x instanceof Obj) {
      out.push("{", ws());
      x.pairs.forEach(([k, val], i) => {
        if (i) out.push(",", ws());
        out.push(JSON.stringify(k), ws(), ":", ws());
        go(val);
      });
      out.push(ws(), "}");
    } else if (Array.isArray(x)) {
      out.push("[");
      x.forEach((val, i) => {
        if (i) out.push(",", ws());
        go(val);
      });
      out.push("]");
    } else if (typeof x === "number") out.push(Number.isFinite(x) ? JSON.stringify(x) : String(x));
    else out.push(JSON.stringify(x));
  };
  go(v);
  return out.join("");
}

/** Odd names for keys and strings: prototype members, separators, control and non-ASCII characters. */
export const ODD_STRINGS = [
  "", " ", "__proto__", "constructor", "toString", "hasOwnProperty", "prototype", "valueOf", "__metadata__",
  "..", ".", "/", "\\", "a\u0000b", "\u0001", "\u2028", "\ud800", "ü", "日本", "💥", "a".repeat(300), "x\ny", "%s%n", "${x}",
  "model.layers.99999999.x.weight", "model.layers.-1.x", "model.layers.01.mlp.weight", "lm_head.weight", "model.embed_tokens.weight",
];

/** Values that are valid JSON but wrong in type or size for any field, plus raw fragments that are not JSON. */
export function weirdValue(rng: Rng): JValue {
  switch (rng.int(6)) {
    case 0: return rng.pick<JValue>([null, true, false, 0, -1, 1.5, 0.1, 2 ** 31, 2 ** 32, 2 ** 53, 2 ** 53 + 2, 2 ** 64, 1e308, -(2 ** 53), 5e-324]);
    case 1: return rng.pick(ODD_STRINGS);
    case 2: return rng.pick<JValue>([[], [0], [-1], [1.5], ["1"], [null], [[1]], [2 ** 53, 2 ** 53], new Array<JValue>(9).fill(1), new Obj([])]);
    case 3: return new Raw(rng.pick(["1e400", "-1e400", "NaN", "Infinity", "-0", "0e0", "1E+2", "1.0", "-", "01", ".5", "1.", "0x10", "\"\\u0000\"", "\"\\ud800\"", "\"\\x41\"", "'a'", "undefined", "tru", "nul", "\"unterminated"]));
    case 4: {
      const d = rng.pick([10, 63, 64, 65, 100, 1000, 5000]);
      return new Raw(rng.chance(0.5) ? "[".repeat(d) + "]".repeat(d) : "{\"a\":".repeat(d) + "1" + "}".repeat(d));
    }
    default:
      return new Raw(rng.pick(["[", "{", "]", "}", ",", ":", "", "[1,]", "{\"a\":1,}", "/* c */1", "1 2"]));
  }
}
