// JSON as Python's json.dumps writes it (transformers' config.save_pretrained: indent=2,
// sort_keys=True; ensure_ascii, allow_nan on): floats in repr form (`1e-05`, `10000.0`, `0.02`),
// ints as digits, every character outside printable ASCII escaped as \uXXXX, ", " / ": " with an
// indent. A JSON number has no int/float type in JavaScript: a number whose text was read from a
// file (numberTexts, by JSON path; see parseBoundedJson) keeps that text's kind (a fraction or an
// exponent makes a float), any other number is an int when it is integral.
import { jsonPathKey } from "../io/bounded-json.ts";

export interface PythonJsonOptions {
  /** Spaces per level (Python's indent=N). */
  readonly indent: number;
  /** Sort object keys (by code point, as Python sorts str). */
  readonly sortKeys: boolean;
  /** Source text of numbers by JSON path, from parseBoundedJson. */
  readonly numberTexts?: ReadonlyMap<string, string>;
}

/** Python's repr() of a float: the shortest round-trip digits, exponent form below 1e-4 and from 1e16. */
export function pythonFloatRepr(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (!Number.isFinite(v)) return v > 0 ? "Infinity" : "-Infinity";
  if (v === 0) return Object.is(v, -0) ? "-0.0" : "0.0";
  const [mant, expText] = v.toExponential().split("e") as [string, string];
  const exp = Number(expText);
  if (exp >= -4 && exp < 16) {
    const s = String(v);
    return s.includes(".") ? s : `${s}.0`;
  }
  return `${mant}e${exp < 0 ? "-" : "+"}${String(Math.abs(exp)).padStart(2, "0")}`;
}

/** A number written with a fraction or an exponent: Python reads it as a float. */
function isFloatText(text: string): boolean {
  return /[.eE]/.test(text);
}

function numberText(v: number, source: string | undefined): string {
  if (source !== undefined && Number(source) === v) {
    if (isFloatText(source)) return pythonFloatRepr(v);
    return source === "-0" ? "0" : source; // a Python int keeps all its digits
  }
  return Number.isInteger(v) ? BigInt(v).toString() : pythonFloatRepr(v);
}

/** json.dumps of a str with ensure_ascii: JSON's escapes, then \uXXXX for everything past "~". */
function stringText(s: string): string {
  return JSON.stringify(s).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

function byCodePoint(a: string, b: string): number {
  const ca = [...a];
  const cb = [...b];
  for (let i = 0; i < Math.min(ca.length, cb.length); i++) {
    const d = ca[i]!.codePointAt(0)! - cb[i]!.codePointAt(0)!;
    if (d !== 0) return d;
  }
  return ca.length - cb.length;
}

function write(v: unknown, o: PythonJsonOptions, path: string, level: number): string {
  if (v === null) return "null";
  if (typeof v === "boolean") return v ? "true" : "false";
  if (typeof v === "number") return numberText(v, o.numberTexts?.get(path));
  if (typeof v === "string") return stringText(v);
  const pad = (l: number) => `\n${" ".repeat(o.indent * l)}`;
  if (Array.isArray(v)) {
    if (v.length === 0) return "[]";
    return `[${v.map((x, i) => pad(level + 1) + write(x, o, jsonPathKey(path, i), level + 1)).join(",")}${pad(level)}]`;
  }
  if (typeof v === "object") {
    const obj = v as Record<string, unknown>;
    let keys = Object.keys(obj).filter((k) => obj[k] !== undefined);
    if (keys.length === 0) return "{}";
    if (o.sortKeys) keys = keys.sort(byCodePoint);
    return `{${keys.map((k) => `${pad(level + 1)}${stringText(k)}: ${write(obj[k], o, jsonPathKey(path, k), level + 1)}`).join(",")}${pad(level)}}`;
  }
  throw new TypeError(`pythonJson: cannot write a ${typeof v}`);
}

/** `value` as json.dumps(value, indent=options.indent, sort_keys=options.sortKeys) writes it. */
export function pythonJson(value: unknown, options: PythonJsonOptions): string {
  return write(value, options, "", 0);
}
