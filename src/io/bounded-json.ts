// A strict JSON parser for untrusted files (safetensors headers, indexes, config.json): RFC 8259
// grammar, named limits on size, nesting, keys and items, duplicate keys refused, and every failure
// an AmalgamError naming the file, the position and the JSON path. Values are what JSON.parse gives;
// on request the text of every number is kept too, by JSON path, so that a file can be written back
// with its numbers as they were (`10000.0` stays a float, as Python wrote it; see python-json.ts).
import { AmalgamError } from "../errors.ts";
import type { ErrorCode } from "../errors.ts";

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

export interface JsonLimits {
  /** Longest text accepted, in UTF-16 code units (about bytes for ASCII JSON). */
  readonly maxLength: number;
  /** Deepest nesting of arrays and objects: real model files nest fewer than 8 levels. */
  readonly maxDepth: number;
  /** Most keys in one object. */
  readonly maxKeys: number;
  /** Most items in one array. */
  readonly maxItems: number;
}

/** Defaults for model side files: config.json and indexes nest < 8 levels and hold < 1e6 entries. */
export const DEFAULT_JSON_LIMITS: JsonLimits = {
  maxLength: 64 * 1024 * 1024,
  maxDepth: 64,
  maxKeys: 1_000_000,
  maxItems: 10_000_000,
};

function lineCol(text: string, at: number): string {
  let line = 1;
  let col = 1;
  const end = Math.min(at, text.length);
  for (let i = 0; i < end; i++) {
    if (text.charCodeAt(i) === 10) { line++; col = 1; } else col++;
  }
  return `line ${line}, column ${col}`;
}

function describeChar(text: string, at: number): string {
  if (at >= text.length) return "the end of the text";
  const c = text.charCodeAt(at);
  return c >= 0x20 && c < 0x7f ? `"${text[at]}"` : `character U+${c.toString(16).toUpperCase().padStart(4, "0")}`;
}

const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;

/**
 * The JSON path of member `key` of an object (or item `key` of an array) at path `parent`, as error
 * messages and number texts name it: `["rope_scaling"]["factor"]`, `["layers"][0]`; the root is "".
 */
export function jsonPathKey(parent: string, key: string | number): string {
  return `${parent}[${typeof key === "number" ? String(key) : JSON.stringify(key)}]`;
}

class Parser {
  pos = 0;
  constructor(readonly text: string, readonly file: string, readonly code: ErrorCode, readonly limits: JsonLimits, readonly numberTexts: Map<string, string> | undefined) {}

  fail(message: string, at = this.pos, path = ""): never {
    throw new AmalgamError(this.code, `${this.file}: invalid JSON at ${lineCol(this.text, at)}${path ? ` (in ${path})` : ""}: ${message}`);
  }

  ws(): void {
    const t = this.text;
    let p = this.pos;
    for (;;) {
      const c = t.charCodeAt(p);
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) p++;
      else break;
    }
    this.pos = p;
  }

  value(depth: number, path: string): JsonValue {
    this.ws();
    const c = this.text.charCodeAt(this.pos);
    if (c === 0x7b) return this.object(depth + 1, path);
    if (c === 0x5b) return this.array(depth + 1, path);
    if (c === 0x22) return this.string(path);
    if (c === 0x2d || (c >= 0x30 && c <= 0x39)) return this.number(path);
    if (this.text.startsWith("true", this.pos)) { this.pos += 4; return true; }
    if (this.text.startsWith("false", this.pos)) { this.pos += 5; return false; }
    if (this.text.startsWith("null", this.pos)) { this.pos += 4; return null; }
    return this.fail(`expected a value, found ${describeChar(this.text, this.pos)}`, this.pos, path);
  }

  nest(depth: number, path: string): void {
    if (depth > this.limits.maxDepth) this.fail(`nesting deeper than the limit of ${this.limits.maxDepth} levels`, this.pos, path);
  }

  object(depth: number, path: string): JsonValue {
    this.nest(depth, path);
    this.pos++;
    const out: { [key: string]: JsonValue } = {};
    let n = 0;
    this.ws();
    if (this.text.charCodeAt(this.pos) === 0x7d) { this.pos++; return out; }
    for (;;) {
      this.ws();
      if (this.text.charCodeAt(this.pos) !== 0x22) this.fail(`expected a key in quotes, found ${describeChar(this.text, this.pos)}`, this.pos, path);
      const keyAt = this.pos;
      const key = this.string(path);
      const keyPath = jsonPathKey(path, key);
      if (Object.hasOwn(out, key)) this.fail(`duplicate key ${JSON.stringify(key)}`, keyAt, path || "the top-level object");
      if (++n > this.limits.maxKeys) this.fail(`more than the limit of ${this.limits.maxKeys} keys in one object`, keyAt, path);
      this.ws();
      if (this.text.charCodeAt(this.pos) !== 0x3a) this.fail(`expected ":" after a key, found ${describeChar(this.text, this.pos)}`, this.pos, keyPath);
      this.pos++;
      const v = this.value(depth, keyPath);
      // "__proto__" becomes an own property, as with JSON.parse, never the prototype.
      if (key === "__proto__") Object.defineProperty(out, key, { value: v, enumerable: true, writable: true, configurable: true });
      else out[key] = v;
      this.ws();
      const c = this.text.charCodeAt(this.pos);
      if (c === 0x2c) { this.pos++; continue; }
      if (c === 0x7d) { this.pos++; return out; }
      this.fail(`expected "," or "}" after a value, found ${describeChar(this.text, this.pos)}`, this.pos, path);
    }
  }

  array(depth: number, path: string): JsonValue {
    this.nest(depth, path);
    this.pos++;
    const out: JsonValue[] = [];
    this.ws();
    if (this.text.charCodeAt(this.pos) === 0x5d) { this.pos++; return out; }
    for (;;) {
      if (out.length >= this.limits.maxItems) this.fail(`more than the limit of ${this.limits.maxItems} items in one array`, this.pos, path);
      out.push(this.value(depth, jsonPathKey(path, out.length)));
      this.ws();
      const c = this.text.charCodeAt(this.pos);
      if (c === 0x2c) { this.pos++; continue; }
      if (c === 0x5d) { this.pos++; return out; }
      this.fail(`expected "," or "]" after an item, found ${describeChar(this.text, this.pos)}`, this.pos, path);
    }
  }

  number(path: string): number {
    NUMBER.lastIndex = this.pos;
    const m = NUMBER.exec(this.text);
    if (!m) return this.fail(`malformed number`, this.pos, path);
    this.pos += m[0].length;
    this.numberTexts?.set(path, m[0]);
    return Number(m[0]);
  }

  string(path: string): string {
    const t = this.text;
    const start = ++this.pos;
    let p = start;
    // Fast path: no escapes.
    for (;;) {
      const c = t.charCodeAt(p);
      if (c === 0x22) { this.pos = p + 1; return t.slice(start, p); }
      if (c === 0x5c) break;
      if (Number.isNaN(c)) this.fail("unterminated string", start - 1, path);
      if (c < 0x20) this.fail(`unescaped control character U+${c.toString(16).padStart(4, "0")} in a string`, p, path);
      p++;
    }
    const parts: string[] = [t.slice(start, p)];
    for (;;) {
      const c = t.charCodeAt(p);
      if (Number.isNaN(c)) this.fail("unterminated string", start - 1, path);
      if (c === 0x22) { this.pos = p + 1; return parts.join(""); }
      if (c < 0x20) this.fail(`unescaped control character U+${c.toString(16).padStart(4, "0")} in a string`, p, path);
      if (c !== 0x5c) {
        let q = p + 1;
        while (q < t.length) {
          const d = t.charCodeAt(q);
          if (d === 0x22 || d === 0x5c || d < 0x20) break;
          q++;
        }
        parts.push(t.slice(p, q));
        p = q;
        continue;
      }
      const e = t[p + 1];
      switch (e) {
        case '"': parts.push('"'); break;
        case "\\": parts.push("\\"); break;
        case "/": parts.push("/"); break;
        case "b": parts.push("\b"); break;
        case "f": parts.push("\f"); break;
        case "n": parts.push("\n"); break;
        case "r": parts.push("\r"); break;
        case "t": parts.push("\t"); break;
        case "u": {
          const hex = t.slice(p + 2, p + 6);
          if (!/^[0-9a-fA-F]{4}$/.test(hex)) this.fail(`bad \\u escape "\\u${hex}"`, p, path);
          parts.push(String.fromCharCode(parseInt(hex, 16)));
          p += 4;
          break;
        }
        default:
          this.fail(`bad escape "\\${e ?? ""}" in a string`, p, path);
      }
      p += 2;
    }
  }
}

/**
 * Parses JSON text (or UTF-8 bytes, which must be valid UTF-8) from `file`; failures throw
 * AmalgamError(`code`) naming the file, the line and column, and the JSON path. `numberTexts`, when
 * given, receives the text of every number by its path (jsonPathKey).
 */
export function parseBoundedJson(input: string | Uint8Array, file: string, code: ErrorCode, limits: JsonLimits = DEFAULT_JSON_LIMITS, numberTexts?: Map<string, string>): JsonValue {
  const size = typeof input === "string" ? input.length : input.byteLength;
  if (size > limits.maxLength) throw new AmalgamError(code, `${file}: ${size} bytes of JSON, over the limit of ${limits.maxLength}`);
  let text: string;
  if (typeof input === "string") text = input;
  else {
    try {
      text = new TextDecoder("utf-8", { fatal: true }).decode(input);
    } catch {
      throw new AmalgamError(code, `${file}: not valid UTF-8`);
    }
  }
  const p = new Parser(text, file, code, limits, numberTexts);
  const v = p.value(0, "");
  p.ws();
  if (p.pos < text.length) p.fail(`unexpected ${describeChar(text, p.pos)} after the JSON value`);
  return v;
}

/** Parses JSON that must be an object (`what` names it in the message). */
export function parseBoundedJsonObject(input: string | Uint8Array, file: string, code: ErrorCode, limits: JsonLimits = DEFAULT_JSON_LIMITS, numberTexts?: Map<string, string>): { [key: string]: JsonValue } {
  const v = parseBoundedJson(input, file, code, limits, numberTexts);
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw new AmalgamError(code, `${file}: expected a JSON object at the top level, found ${v === null ? "null" : Array.isArray(v) ? "an array" : typeof v}`);
  return v;
}
