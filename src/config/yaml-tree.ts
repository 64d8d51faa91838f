// Turns YAML text into a small tree whose every node knows its config path and source position,
// so validation errors can say `models[1].parameters.weight (line 7, column 15): ...`.
import { LineCounter, parseDocument, isMap, isSeq, isScalar, isAlias } from "yaml";
import type { Node as YamlNode } from "yaml";
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

/** Config text larger than this is refused (real configs are a few KiB). */
export const MAX_CONFIG_BYTES = 4 * 1024 * 1024;
/** Deeper nesting than this is refused (MergeKit configs nest at most ~6 levels). */
export const MAX_DEPTH = 32;

export function where(node: { readonly path: string; readonly pos?: Pos | undefined }): string {
  return node.pos ? `${node.path || "config"} (line ${node.pos.line}, column ${node.pos.col})` : node.path || "config";
}

export function configError(node: { path: string; pos: Pos | undefined }, message: string, code: "E_CONFIG" | "E_CONFIG_TYPE" | "E_CONFIG_UNKNOWN_KEY" = "E_CONFIG"): AmalgamError {
  return new AmalgamError(code, `${where(node)}: ${message}`);
}

/** Parses one YAML document (`file` names it in messages). */
export function parseYamlTree(text: string, file: string): YNode {
  if (text.length > MAX_CONFIG_BYTES) throw new AmalgamError("E_CONFIG", `${file}: config is ${text.length} bytes, over the ${MAX_CONFIG_BYTES}-byte limit`);
  const lc = new LineCounter();
  // YAML 1.1 like PyYAML, which MergeKit uses (yes/no/on/off are booleans).
  const doc = parseDocument(text, { lineCounter: lc, version: "1.1", uniqueKeys: true});
  const err = doc.errors[0];
  if (err) {
    const p = err.linePos?.[0];
    throw new AmalgamError("E_CONFIG", `${file}${p ? ` (line ${p.line}, column ${p.col})` : ""}: invalid YAML: ${err.message.split("\n")[0]!.replace(/ at line \d+, column \d+:?$/, "")}`);
  }
  const posOf = (n: YamlNode | null | undefined): Pos | undefined => {
    const r = n?.range;
    if (!r) return undefined;
    const lp = lc.linePos(r[0]);
    return { line: lp.line, col: lp.col };
  };
  const convert = (n: unknown, path: string, depth: number): YNode => {
    const yn = n as YamlNode | null;
    const pos = posOf(yn);
    if (depth > MAX_DEPTH) throw new AmalgamError("E_CONFIG", `${file}: ${path} nests deeper than ${MAX_DEPTH} levels`);
    if (isAlias(yn)) return convert(yn.resolve(doc), path, depth + 1);
    if (isMap(yn)) {
      const entries: [string, YNode][] = [];
      for (const pair of yn.items) {
        const k = isScalar(pair.key) ? pair.key.value : pair.key;
        if (typeof k !== "string" && typeof k !== "number") {
          throw new AmalgamError("E_CONFIG", `${file}: ${path || "config"}${pos ? ` (line ${pos.line})` : ""}: keys must be strings`);
        }
        const key = String(k);
        const childPath = path ? `${path}.${key}` : key;
        const valuePos = posOf(pair.value as YamlNode | null) ?? posOf(pair.key as YamlNode);
        if (pair.value === null || pair.value === undefined) {
          entries.push([key, { kind: "scalar", value: null, path: childPath, pos: valuePos }]);
        } else {
          entries.push([key, convert(pair.value, childPath, depth + 1)]);
        }
      }
      return { kind: "map", entries, path, pos };
    }
    if (isSeq(yn)) {
      return { kind: "seq", items: yn.items.map((it, i) => convert(it, `${path}[${i}]`, depth + 1)), path, pos };
    }
    if (isScalar(yn)) {
      const v = yn.value;
      // PyYAML (MergeKit) reads plain y/Y/n/N as strings; the yaml package's 1.1 schema as booleans.
      if (typeof v === "boolean" && typeof yn.source === "string" && /^[yYnN]$/.test(yn.source)) return { kind: "scalar", value: yn.source, path, pos };
      if (v === null || typeof v === "string" || typeof v === "number" || typeof v === "boolean") return { kind: "scalar", value: v, path, pos };
      return { kind: "scalar", value: String(v), path, pos };
    }
    if (yn === null || yn === undefined) return { kind: "scalar", value: null, path, pos };
    throw new AmalgamError("E_CONFIG", `${file}: ${path}: unsupported YAML node`);
  };
  return convert(doc.contents, "", 0);
}
