// Turns YAML text into a small tree whose every node knows its config path and source position,
// so validation errors can say `models[1].parameters.weight (line 7, column 15): ...`.
import { Composer, LineCounter, Parser, isAlias, isMap, isScalar, isSeq } from "yaml";
import type { CST, Document, Node as YamlNode } from "yaml";
import { AmalgamError } from "../errors.ts";

export interface Pos {
  readonly line: number;
  readonly col: number;
}

interface NodeBase {
  readonly path: string;
  readonly pos: Pos | undefined;
}
export interface YMap extends NodeBase {
  readonly kind: "map";
  readonly entries: ReadonlyArray<readonly [string, YNode]>;
}
export interface YSeq extends NodeBase {
  readonly kind: "seq";
  readonly items: readonly YNode[];
}
export interface YScalar extends NodeBase {
  readonly kind: "scalar";
  readonly value: string | number | boolean | null;
}
export type YNode = YMap | YSeq | YScalar;

/** Config text larger than this is refused (real configs are a few KiB; big frankenmerges < 100 KiB). */
export const MAX_CONFIG_BYTES = 1024 * 1024;
/** Deeper nesting than this is refused (MergeKit configs nest at most ~6 levels). */
export const MAX_DEPTH = 32;
/**
 * Cheap bound checked on the raw text before the YAML library sees it: unmatched `[`/`{` and the
 * column where a line's content starts after indentation and `- ` / `? ` / `: ` indicators. Deeper
 * text makes the library's recursive composer overflow the stack or abort the process.
 */
export const MAX_LEXICAL_NESTING = 256;
/** Nodes after expanding aliases ("billion laughs" documents expand exponentially). */
export const MAX_NODES = 100_000;
/** Alias uses (`*name`) in one config. */
export const MAX_ALIASES = 10_000;

export function where(node: { readonly path: string; readonly pos?: Pos | undefined }): string {
  return node.pos ? `${node.path || "config"} (line ${node.pos.line}, column ${node.pos.col})` : node.path || "config";
}

export function configError(node: { path: string; pos: Pos | undefined }, message: string, code: "E_CONFIG" | "E_CONFIG_TYPE" | "E_CONFIG_UNKNOWN_KEY" = "E_CONFIG"): AmalgamError {
  return new AmalgamError(code, `${where(node)}: ${message}`);
}

/** Rejects text whose nesting could exhaust the YAML library's recursion, before parsing. */
function lexicalCheck(text: string, file: string): void {
  let brackets = 0;
  let line = 1;
  let lineStart = 0;
  let atStart = true;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 10) { line++; lineStart = i + 1; atStart = true; continue; }
    if (atStart) {
      if (c === 32 || c === 9) continue;
      const next = text.charCodeAt(i + 1);
      if ((c === 45 || c === 63 || c === 58) && (next === 32 || next === 9 || next === 10 || Number.isNaN(next))) continue;
      atStart = false;
      if (i - lineStart > MAX_LEXICAL_NESTING) {
        throw new AmalgamError("E_CONFIG", `${file} (line ${line}): content starts at column ${i - lineStart + 1}, deeper than the limit of ${MAX_LEXICAL_NESTING} columns of indentation and indicators`);
      }
    }
    if (c === 91 || c === 123) {
      if (++brackets > MAX_LEXICAL_NESTING) throw new AmalgamError("E_CONFIG", `${file} (line ${line}): more than ${MAX_LEXICAL_NESTING} unclosed "[" or "{"`);
    } else if ((c === 93 || c === 125) && brackets > 0) brackets--;
  }
  if (atStart && text.length - lineStart > MAX_LEXICAL_NESTING) {
    throw new AmalgamError("E_CONFIG", `${file} (line ${line}): indentation deeper than the limit of ${MAX_LEXICAL_NESTING} columns`);
  }
}

/** Depth of collections in the concrete syntax tree, walked without recursion. */
function cstDepth(tokens: readonly CST.Token[]): number {
  const stack: [CST.Token, number][] = tokens.map((t) => [t, 0]);
  let max = 0;
  while (stack.length) {
    const [t, d] = stack.pop()!;
    max = Math.max(max, d);
    if (max > MAX_DEPTH) return max;
    switch (t.type) {
      case "document":
        if (t.value) stack.push([t.value, d]);
        break;
      case "block-map":
      case "block-seq":
      case "flow-collection":
        for (const it of t.items) {
          const item = it as { key?: CST.Token | null; value?: CST.Token };
          if (item.key) stack.push([item.key, d + 1]);
          if (item.value) stack.push([item.value, d + 1]);
        }
        break;
      default:
        break;
    }
  }
  return max;
}

/** Parses one YAML document (`file` names it in messages). */
export function parseYamlTree(text: string, file: string): YNode {
  if (text.length > MAX_CONFIG_BYTES) throw new AmalgamError("E_CONFIG", `${file}: config is ${text.length} bytes, over the ${MAX_CONFIG_BYTES}-byte limit`);
  lexicalCheck(text, file);
  const lc = new LineCounter();
  let doc: Document.Parsed | undefined;
  try {
    const tokens = [...new Parser(lc.addNewLine).parse(text)];
    const depth = cstDepth(tokens);
    if (depth > MAX_DEPTH) throw new AmalgamError("E_CONFIG", `${file}: the config nests deeper than ${MAX_DEPTH} levels`);
    // YAML 1.1 like PyYAML, which MergeKit uses (yes/no/on/off are booleans). Duplicate keys are
    // found below in linear time (the library's check is quadratic in the keys of a mapping).
    const composer = new Composer({ version: "1.1", uniqueKeys: false });
    for (const d of composer.compose(tokens, true, text.length)) {
      if (doc) throw new AmalgamError("E_CONFIG", `${file}: the config holds more than one YAML document`);
      doc = d;
    }
  } catch (e) {
    if (e instanceof AmalgamError) throw e;
    throw new AmalgamError("E_CONFIG", `${file}: invalid YAML (${(e as Error)?.message ?? String(e)})`);
  }
  if (!doc) throw new AmalgamError("E_CONFIG", `${file}: the config is empty`);
  const err = doc.errors[0];
  if (err) {
    const p = lc.linePos(err.pos[0]);
    throw new AmalgamError("E_CONFIG", `${file} (line ${p.line}, column ${p.col}): invalid YAML: ${err.message.split("\n")[0]!.replace(/ at line \d+, column \d+:?$/, "")}`);
  }
  const posOf = (n: YamlNode | null | undefined): Pos | undefined => {
    const r = n?.range;
    if (!r) return undefined;
    const lp = lc.linePos(r[0]);
    return { line: lp.line, col: lp.col };
  };
  // Anchors in document order: an alias means the latest anchor of its name before it.
  const anchors = new Map<string, YamlNode>();
  let nodes = 0;
  let aliases = 0;
  const convert = (n: unknown, path: string, depth: number, expanding: boolean): YNode => {
    const yn = n as YamlNode | null;
    const pos = posOf(yn);
    if (depth > MAX_DEPTH) throw new AmalgamError("E_CONFIG", `${file}: ${path || "config"} nests deeper than ${MAX_DEPTH} levels`);
    if (++nodes > MAX_NODES) throw new AmalgamError("E_CONFIG", `${file}: ${path || "config"}: more than ${MAX_NODES} values (after expanding aliases)`);
    if (isAlias(yn)) {
      if (++aliases > MAX_ALIASES) throw new AmalgamError("E_CONFIG", `${file}: more than ${MAX_ALIASES} aliases`);
      const target = anchors.get(yn.source);
      if (!target) throw new AmalgamError("E_CONFIG", `${file}: ${path || "config"}${pos ? ` (line ${pos.line}, column ${pos.col})` : ""}: alias *${yn.source} refers to no anchor before it`);
      return convert(target, path, depth + 1, true);
    }
    if (!expanding && yn && (isMap(yn) || isSeq(yn) || isScalar(yn)) && yn.anchor) anchors.set(yn.anchor, yn);
    if (isMap(yn)) {
      const entries: [string, YNode][] = [];
      const seen = new Set<string>();
      for (const pair of yn.items) {
        let keyNode = pair.key as YamlNode | null;
        if (isAlias(keyNode)) {
          if (++aliases > MAX_ALIASES) throw new AmalgamError("E_CONFIG", `${file}: more than ${MAX_ALIASES} aliases`);
          keyNode = anchors.get(keyNode.source) ?? null;
        }
        if (!expanding && isScalar(keyNode) && keyNode.anchor) anchors.set(keyNode.anchor, keyNode);
        const k = isScalar(keyNode) ? keyNode.value : keyNode;
        if (typeof k !== "string" && typeof k !== "number") {
          throw new AmalgamError("E_CONFIG", `${file}: ${path || "config"}${pos ? ` (line ${pos.line})` : ""}: keys must be strings`);
        }
        const key = String(k);
        const childPath = path ? `${path}.${key}` : key;
        const valuePos = posOf(pair.value as YamlNode | null) ?? posOf(pair.key as YamlNode);
        if (seen.has(key)) {
          const kp = posOf(pair.key as YamlNode);
          throw new AmalgamError("E_CONFIG", `${file}${kp ? ` (line ${kp.line}, column ${kp.col})` : ""}: invalid YAML: Map keys must be unique`);
        }
        seen.add(key);
        if (pair.value === null || pair.value === undefined) {
          if (++nodes > MAX_NODES) throw new AmalgamError("E_CONFIG", `${file}: ${childPath}: more than ${MAX_NODES} values (after expanding aliases)`);
          entries.push([key, { kind: "scalar", value: null, path: childPath, pos: valuePos }]);
        } else {
          entries.push([key, convert(pair.value, childPath, depth + 1, expanding)]);
        }
      }
      return { kind: "map", entries, path, pos };
    }
    if (isSeq(yn)) {
      return { kind: "seq", items: yn.items.map((it, i) => convert(it, `${path}[${i}]`, depth + 1, expanding)), path, pos };
    }
    if (isScalar(yn)) {
      const v = yn.value;
      // PyYAML (MergeKit) reads plain y/Y/n/N as strings; the yaml package's 1.1 schema as booleans.
      if (typeof v === "boolean" && typeof yn.source === "string" && /^[yYnN]$/.test(yn.source)) return { kind: "scalar", value: yn.source, path, pos };
      if (v === null || typeof v === "string" || typeof v === "number" || typeof v === "boolean") return { kind: "scalar", value: v, path, pos };
      return { kind: "scalar", value: String(v), path, pos };
    }
    if (yn === null || yn === undefined) return { kind: "scalar", value: null, path, pos };
    throw new AmalgamError("E_CONFIG", `${file}: ${path || "config"}: unsupported YAML node`);
  };
  return convert(doc.contents, "", 0, false);
}
