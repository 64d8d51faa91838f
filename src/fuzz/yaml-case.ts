// Structure-aware MergeKit configs for fuzzing: a config tree is generated from MergeKit's schema
// (models or slices, parameters as numbers, gradients and filter lists, dtypes, references), written
// as YAML in random styles (block and flow, quoting, YAML 1.1 scalars, anchors and aliases),
// mutated as a tree, then line by line and token by token, then as bytes.
import { Obj, Raw } from "./json-model.ts";
import type { JValue } from "./json-model.ts";
import { mutateText } from "./mutate-bytes.ts";
import type { Rng } from "./rng.ts";

export const FUZZ_MODELS = ["m0", "m1", "m2", "m3"];
const REFS = [...FUZZ_MODELS, ...FUZZ_MODELS, "missing", "org/name", "m0@rev", "m1+lora", "m0@", "+", "@", "a@b@c", "./m0", "m0/../m1", ""];
const METHODS = [
  "linear", "passthrough", "slerp", "nuslerp", "multislerp", "karcher", "task_arithmetic", "ties", "breadcrumbs", "breadcrumbs_ties",
  "dare_ties", "dare_linear", "della", "della_linear", "sce", "model_stock", "nearswap", "arcee_fusion", "ram", "ramplus_tl", "unknown_method", "",
];
const PARAMS = ["weight", "density", "t", "normalize", "lambda", "epsilon", "gamma", "rescale", "select_topk", "int8_mask", "filter_wise", "r", "alpha", "max_iter", "tol", "nuslerp_flatten", "nuslerp_row_wise", "normalize_weights", "eps", "scale"];
const FILTERS = ["self_attn", "mlp", "input_layernorm", "q_proj", "lm_head", "embed", "", "*", ".*", "(", "["];
const DTYPES = ["bfloat16", "float16", "float32", "torch.bfloat16", "half", "float", "int64", "float64", "bogus", ""];

export const YAML_DICTIONARY = [
  "&a ", "*a", "&b ", "*b", "!!binary ", "!!set ", "!!omap ", "!!str ", "!!int ", "!!float ", "!!map ", "!!seq ", "!!null ", "!custom ", "<<: ",
  "? ", "- ", ": ", "[", "]", "{", "}", ",", "'", "\"", "|", ">", "|-", ">+", "# c", "%YAML 1.1\n", "%TAG ! tag:x,2000:\n", "---\n", "...\n",
  "\t", "\u0000", "\ufeff", "\u2028", "\r", "~", ".inf", "-.inf", ".nan", "0x1f", "0o17", "1_000", "1e400", "yes", "no", "on", "off", "y", "n",
  "merge_method", "models", "slices", "sources", "layer_range", "parameters", "base_model", "filter", "value", "weight", "dtype", "model",
];

/** An alias of an earlier anchored value in the config tree. */
export class AliasOf {
  constructor(readonly target: Obj | JValue[]) {}
}

export type YValue = JValue | AliasOf;

const VALID_METHODS = METHODS.slice(0, 20);
const VALID_DTYPES = DTYPES.slice(0, 6);

function number(rng: Rng, valid = false): JValue {
  if (valid) return rng.chance(0.5) ? rng.pick([0, 1, 0.5, 0.3, 0.25, 0.1, 0.9]) : Math.round(rng.float() * 100) / 100;
  switch (rng.int(8)) {
    case 0: return rng.pick([0, 1, 0.5, 0.3, 0.25, -0.5, 2, 10]);
    case 1: return Math.round(rng.float() * 1000) / 1000;
    case 2: return new Raw(rng.pick([".5", "1e-3", "5e-1", "1.", "0x10", "0o7", "1_000", "+1", "-0", ".inf", "-.inf", ".nan", "1e400", "9007199254740993", "0b101", "1:30"]));
    case 3: return rng.pick(["0.5", "1", " 1 ", "1e2", "x", ""]);
    case 4: return rng.pick([true, false, null]);
    default: return Math.round(rng.float() * 100) / 100;
  }
}

function paramValue(rng: Rng, valid = false): YValue {
  const r = rng.int(10);
  if (r < 5) return number(rng, valid);
  if (r < 7) return Array.from({ length: valid ? 1 + rng.small(4) : rng.small(6) }, () => number(rng, valid));
  if (r < 9 || valid) {
    const items: JValue[] = [];
    for (let i = 0, n = 1 + rng.small(3); i < n; i++) {
      const it = new Obj([]);
      if (i < n - 1 || (!valid && rng.chance(0.3))) it.pairs.push(["filter", valid ? rng.pick(FILTERS.slice(0, 6)) : rng.pick(FILTERS)]);
      it.pairs.push(["value", rng.chance(0.7) ? number(rng, valid) : [number(rng, valid), number(rng, valid)]]);
      items.push(it);
    }
    return items;
  }
  return new Obj([["filter", "mlp"], ["value", 1]]);
}

function params(rng: Rng, valid = false, names: readonly string[] = PARAMS): Obj {
  const o = new Obj([]);
  if (valid && names.length < PARAMS.length) o.set(names[0]!, number(rng, true));
  for (let i = 0, n = valid ? 1 + rng.small(3) : rng.small(3); i < n; i++) o.set(rng.pick(names), paramValue(rng, valid) as JValue);
  return o;
}

function ref(rng: Rng, valid = false): JValue {
  if (valid) return rng.pick(FUZZ_MODELS);
  if (rng.chance(0.1)) return new Obj([["model", rng.chance(0.5) ? rng.pick(REFS) : new Obj([["path", rng.pick(REFS)], ["revision", "main"]])]]);
  return rng.pick(REFS);
}

/** A config tree from MergeKit's schema: about half are valid configs over m0..m3. */
export function randomConfigTree(rng: Rng): Obj {
  const valid = rng.chance(0.5);
  const top = new Obj([["merge_method", valid ? rng.pick(VALID_METHODS) : rng.pick(METHODS)]]);
  const base = valid ? rng.pick(FUZZ_MODELS) : undefined;
  if (valid ? rng.chance(0.9) : rng.chance(0.5)) top.set("base_model", base ?? ref(rng));
  const perModel = valid ? ["weight", "weight", "density", "t", "epsilon", "gamma"] : PARAMS;
  const shared = rng.chance(0.2) ? params(rng, valid, perModel) : undefined;
  if (rng.chance(0.65)) {
    const models: JValue[] = [];
    for (let i = 0, n = valid ? 2 + rng.small(2) : 1 + rng.small(3); i < n; i++) {
      const m = new Obj([["model", valid ? FUZZ_MODELS[i % 4]! : ref(rng)]]);
      if (valid || rng.chance(0.8)) m.set("parameters", (shared && rng.chance(0.5) ? new AliasOf(shared) : params(rng, valid, perModel)) as JValue);
      models.push(m);
    }
    top.set("models", models);
  } else {
    const slices: JValue[] = [];
    for (let i = 0, n = 1 + rng.small(3); i < n; i++) {
      const a = rng.small(3);
      const b = valid ? Math.min(4, a + 1 + rng.small(2)) : rng.chance(0.9) ? Math.min(4, a + rng.small(4)) : rng.pick([-1, 1e9, 2 ** 53, 0.5]);
      const sources: JValue[] = [];
      for (let j = 0, m = 1 + rng.small(2); j < m; j++) {
        const s = new Obj([["model", valid ? (j === 0 && base ? base : rng.pick(FUZZ_MODELS)) : ref(rng)], ["layer_range", valid || rng.chance(0.95) ? [a, b] : [a]]]);
        if (valid || rng.chance(0.5)) s.set("parameters", params(rng, valid, perModel));
        sources.push(s);
      }
      const sl = new Obj([["sources", sources]]);
      if (rng.chance(0.3)) sl.set("parameters", params(rng, valid));
      slices.push(sl);
    }
    top.set("slices", slices);
  }
  if (valid || rng.chance(0.6)) top.set("parameters", params(rng, valid, valid ? ["t", "normalize", "lambda", "epsilon", "density"] : PARAMS));
  if (rng.chance(0.5)) top.set("dtype", valid ? rng.pick(VALID_DTYPES) : rng.pick(DTYPES));
  if (rng.chance(0.1)) top.set("out_dtype", valid ? rng.pick(VALID_DTYPES) : rng.pick(DTYPES));
  if (rng.chance(0.1)) top.set("tokenizer_source", valid ? "base" : rng.pick(["base", "union", "m1", ""]));
  if (!valid && rng.chance(0.05)) top.set(rng.pick(["chat_template", "tokenizer", "modules", "name", "unknown_key"]), "x");
  return top;
}

const PLAIN = /^[A-Za-z_][\w./@+-]*$/;
const YAML11_WORDS = /^(y|Y|yes|Yes|YES|n|N|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF|null|Null|NULL|~)$/;

/** Writes a config tree as YAML; style choices come from `rng`. */
export function emitYaml(tree: Obj, rng: Rng): string {
  const step = rng.pick([2, 2, 4, 1, 3]);
  const anchors = new Map<object, string>();
  let unused = 0;
  const lines: string[] = [];
  const quote = (s: string): string => {
    if (PLAIN.test(s) && !YAML11_WORDS.test(s) && rng.chance(0.8)) return s;
    return rng.chance(0.5) ? JSON.stringify(s) : `'${s.replaceAll("'", "''")}'`;
  };
  const scalar = (v: JValue): string => {
    if (v instanceof Raw) return v.text;
    if (v === null) return rng.pick(["null", "~", ""]);
    if (typeof v === "boolean") return v ? rng.pick(["true", "yes", "on", "True"]) : rng.pick(["false", "no", "off", "False"]);
    if (typeof v === "number") return rng.chance(0.9) ? String(v) : v.toExponential();
    return quote(String(v));
  };
  // The first use of an alias target defines the anchor (in flow style); later uses are aliases.
  const reference = (target: Obj | JValue[]): string => {
    const a = anchors.get(target);
    if (a) return `*${a}`;
    const name = `a${anchors.size}`;
    anchors.set(target, name);
    return `&${name} ${flow(target)}`;
  };
  const flow = (v: YValue): string => {
    if (v instanceof AliasOf) return reference(v.target);
    if (v instanceof Obj) return `{${v.pairs.map(([k, x]) => `${quote(k)}: ${flow(x)}`).join(", ")}}`;
    if (Array.isArray(v)) return `[${v.map(flow).join(", ")}]`;
    return scalar(v);
  };
  const block = (v: YValue, indent: number, lead: string): void => {
    const pad = " ".repeat(indent);
    if (v instanceof AliasOf) { lines.push(`${pad}${lead} ${reference(v.target)}`); return; }
    const collection = v instanceof Obj ? v.pairs.length > 0 : Array.isArray(v) && v.length > 0;
    if (!collection || rng.chance(0.15)) { lines.push(`${pad}${lead} ${flow(v)}`.trimEnd()); return; }
    lines.push(`${pad}${lead}${rng.chance(0.05) ? ` &u${unused++}` : ""}`);
    if (v instanceof Obj) for (const [k, x] of v.pairs) block(x, indent + step, `${quote(k)}:`);
    else for (const x of v as JValue[]) block(x, indent + step, "-");
  };
  if (rng.chance(0.1)) lines.push(rng.pick(["---", "# a merge", "%YAML 1.1\n---"]));
  for (const [k, v] of tree.pairs) block(v, 0, `${quote(k)}:`);
  if (rng.chance(0.05)) lines.push("...");
  return lines.join(rng.chance(0.05) ? "\r\n" : "\n") + (rng.chance(0.8) ? "\n" : "");
}

function cloneTree(v: YValue, seen: Map<object, object>): YValue {
  if (v instanceof AliasOf) return new AliasOf((seen.get(v.target) as Obj | JValue[] | undefined) ?? v.target);
  if (v instanceof Obj) { const o = new Obj([]); seen.set(v, o); for (const [k, x] of v.pairs) o.pairs.push([k, cloneTree(x, seen) as JValue]); return o; }
  if (Array.isArray(v)) { const a: JValue[] = []; seen.set(v, a); for (const x of v) a.push(cloneTree(x, seen) as JValue); return a; }
  return v;
}

/** Every slot of the tree: a parent and the key or index of one of its children. */
function slots(tree: Obj): { parent: Obj | JValue[]; at: number }[] {
  const out: { parent: Obj | JValue[]; at: number }[] = [];
  const go = (v: YValue): void => {
    if (v instanceof Obj) v.pairs.forEach(([, x], i) => { out.push({ parent: v, at: i }); go(x); });
    else if (Array.isArray(v)) v.forEach((x, i) => { out.push({ parent: v, at: i }); go(x); });
  };
  go(tree);
  return out;
}

const WEIRD_YAML: JValue[] = [
  new Raw("~"), new Raw(".nan"), new Raw(".inf"), new Raw("-.inf"), new Raw("1e999"), new Raw("0x7fffffffffffffff"), new Raw("!!binary AAAA"),
  new Raw("!!set {a, b}"), new Raw("!!omap [a: 1]"), new Raw("!!timestamp 2001-12-14"), new Raw("&x [*x]"), new Raw("*undefined_anchor"),
  new Raw("[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]"), new Raw("{a: {b: {c: {d: {e: 1}}}}}"), new Raw("|\n  block"),
  new Raw("\"\\x00\\uD800\""), -1, 0, 1e9, 2 ** 53, 0.5, "", "x".repeat(1000), [], new Obj([]), [5, 2], [0, 1e9], [-1, 2], [0.5, 1], true, null,
];

/** One tree-level mutation: a value replaced, a key removed, renamed or duplicated, a value nested. */
export function mutateTree(rng: Rng, tree: Obj): Obj {
  const t = cloneTree(tree, new Map()) as Obj;
  const all = slots(t);
  if (!all.length) return t;
  const { parent, at } = rng.pick(all);
  const get = (): JValue => (parent instanceof Obj ? parent.pairs[at]![1] : parent[at]!);
  const put = (v: JValue) => { if (parent instanceof Obj) parent.pairs[at]![1] = v; else parent[at] = v; };
  switch (rng.int(7)) {
    case 0: put(rng.pick(WEIRD_YAML)); break;
    case 1: put(number(rng)); break;
    case 2: if (parent instanceof Obj) parent.pairs.splice(at, 1); else parent.splice(at, 1); break;
    case 3: if (parent instanceof Obj) parent.pairs[at]![0] = rng.pick([...PARAMS, "model", "sources", "parameters", "unknown", "", "<<", "1"]); break;
    case 4: if (parent instanceof Obj) parent.pairs.push([parent.pairs[at]![0], get()]); else parent.push(get()); break;
    case 5: put(rng.chance(0.5) ? [get()] : new Obj([["value", get()]])); break;
    default: put(rng.chance(0.5) ? rng.pick(FUZZ_MODELS) : paramValue(rng) as JValue); break;
  }
  return t;
}

/** Line-level mutations of YAML text: lines duplicated, dropped, swapped, re-indented, tokens inserted. */
export function mutateLines(rng: Rng, text: string): string {
  const lines = text.split("\n");
  for (let i = 0, n = 1 + rng.int(3); i < n && lines.length; i++) {
    const k = rng.int(lines.length);
    switch (rng.int(6)) {
      case 0: lines.splice(k, 0, lines[k]!); break;
      case 1: lines.splice(k, 1); break;
      case 2: { const j = rng.int(lines.length); const x = lines[k]!; lines[k] = lines[j]!; lines[j] = x; break; }
      case 3: lines[k] = rng.chance(0.5) ? " ".repeat(1 + rng.int(3)) + lines[k] : lines[k]!.replace(/^ {1,3}/, ""); break;
      case 4: { const l = lines[k]!; const p = rng.int(l.length + 1); lines[k] = l.slice(0, p) + rng.pick(YAML_DICTIONARY) + l.slice(p); break; }
      default: lines[k] = lines[k]!.replace(/: .*$/, `: ${rng.pick(["*a", "&a", "[", "{", "'", "\"", "|", ">", "? x", "- x", "!!binary x", "1e400", "\t1"])}`); break;
    }
  }
  return lines.join("\n");
}

export interface YamlGenome {
  readonly tree: Obj;
}

/** Renders a genome to text, then applies text-level mutations with some probability. */
export function renderYamlCase(rng: Rng, g: YamlGenome): { text: string; structural: boolean } {
  let text = emitYaml(g.tree, rng);
  let structural = true;
  if (rng.chance(0.3)) { text = mutateLines(rng, text); structural = false; }
  if (rng.chance(0.15)) { text = mutateText(rng, text, { dictionary: YAML_DICTIONARY, maxLength: 1 << 16 }); structural = false; }
  return { text, structural };
}
