// The tensors a merge needs, checked in every source model before planning: every missing tensor
// of every model (the planner stops at the first), shapes, dtypes, layer counts and ranges. Follows
// the planner's rules (src/plan/build-plan.ts): the first source of a slice decides a layer's tensors,
// pre-layer tensors come from the first slice and post-layer ones from the last, a missing lm_head
// falls back to the tied input embedding, and embeddings of different vocabularies are cut.
import type { MergeConfig, ModelRef } from "../config/types.ts";
import { isDType } from "../dtype.ts";
import { isEmbedName } from "../plan/structure.ts";
import { layerName } from "./flat-structure.ts";
import type { FlatStructure } from "./flat-structure.ts";
import { fixFor } from "./check-problem.ts";
import type { CheckProblem } from "./check-problem.ts";
import type { OpenedModel } from "./model-summary.ts";

/** Names listed in one problem before "and N more". */
const MAX_LISTED = 5;

function listNames(names: readonly string[]): string {
  const shown = names.slice(0, MAX_LISTED).map((n) => `"${n}"`).join(", ");
  return names.length > MAX_LISTED ? `${shown} and ${names.length - MAX_LISTED} more` : shown;
}

interface Source { readonly ref: string; readonly structure: FlatStructure; readonly opened: OpenedModel; readonly start: number; readonly end: number; readonly path: string }

/** The tensors each slice needs, checked in every source: missing tensors, shapes, dtypes. */
export function checkTensors(config: MergeConfig, opened: ReadonlyMap<string, OpenedModel>, problems: CheckProblem[], warnings: string[]): void {
  const src = (ref: ModelRef, range: readonly [number, number] | undefined, path: string): Source | undefined => {
    const o = opened.get(ref.text);
    if (!o?.structure) return undefined;
    const [start, end] = range ?? [0, o.structure.numLayers];
    return { ref: ref.text, structure: o.structure, opened: o, start, end, path };
  };
  const slices: Source[][] = [];
  if (config.models) {
    const s = config.models.map((m) => src(m.model, undefined, m.path));
    if (config.baseModel && !config.models.some((m) => m.model.text === config.baseModel!.text)) s.push(src(config.baseModel, undefined, "base_model"));
    if (s.some((x) => !x)) return;
    const srcs = s as Source[];
    const counts = new Set(srcs.map((x) => x.end));
    if (counts.size > 1) {
      problems.push({
        code: "E_TENSOR_MISSING",
        message: `the models have different layer counts (${srcs.map((x) => `${x.ref}: ${x.end}`).join(", ")})`,
        fix: "merge models with the same number of layers, or use slices with layer_range to pick matching layers",
      });
      return;
    }
    slices.push(srcs);
  } else {
    let complete = true;
    for (const sl of config.slices!) {
      const s = sl.sources.map((x) => src(x.model, x.layerRange, x.path));
      let bad = false;
      for (const x of s) {
        if (x && x.end > x.structure.numLayers) {
          problems.push({ code: "E_CONFIG", message: `${x.path}.layer_range: [${x.start}, ${x.end}] exceeds the ${x.structure.numLayers} layers of ${x.ref}`, fix: `use a layer_range within [0, ${x.structure.numLayers}]` });
          bad = true;
        }
      }
      if (s.some((x) => !x)) { complete = false; continue; }
      const srcs = s as Source[];
      const len = srcs[0]!.end - srcs[0]!.start;
      if (srcs.some((x) => x.end - x.start !== len)) {
        problems.push({ code: "E_CONFIG", message: `${sl.path}: the sources cover different numbers of layers (${srcs.map((x) => `${x.ref}: ${x.end - x.start}`).join(", ")})`, fix: "give every source of a slice a layer_range of the same length" });
        bad = true;
      }
      if (bad) complete = false;
      else slices.push(srcs);
    }
    if (!complete) return;
  }
  const missing = new Map<string, string[]>();
  const shapeIssues: string[] = [];
  const dtypeIssues: string[] = [];
  const vocabNotes = new Set<string>();
  const need = (out: string, names: readonly string[], srcs: readonly Source[]) => {
    const found = srcs.map((s, i) => {
      let t = s.opened.files.tensors.get(names[i]!);
      if (!t && isEmbedName(out) && /(^|\.)lm_head\./.test(out)) {
        const e = s.structure.pre.find((p) => isEmbedName(p));
        if (e) t = s.opened.files.tensors.get(e);
      }
      if (!t) {
        const l = missing.get(s.ref) ?? [];
        l.push(names[i]!);
        missing.set(s.ref, l);
      } else if (!isDType(t.dtype)) {
        dtypeIssues.push(`"${t.name}" is ${t.dtype} in ${s.ref}`);
      }
      return t;
    });
    const present = found.filter((t) => t !== undefined);
    if (present.length < 2) return;
    const first = present[0]!.shape;
    if (present.every((t) => t.shape.join() === first.join())) return;
    const desc = srcs.map((s, i) => (found[i] ? `${s.ref} [${found[i]!.shape.join(", ")}]` : "")).filter(Boolean).join(", ");
    if (isEmbedName(out) && present.every((t) => t.shape.length === 2)) vocabNotes.add(`"${out}": ${desc}`);
    else shapeIssues.push(`"${out}": ${desc}`);
  };
  const union = (srcs: readonly Source[], pick: (s: FlatStructure) => readonly string[]) => [...new Set(srcs.flatMap((s) => pick(s.structure)))].sort();
  const first = slices[0]!;
  const last = slices[slices.length - 1]!;
  for (const n of union(first, (s) => s.pre)) need(n, first.map(() => n), first);
  let outLayer = 0;
  for (const srcs of slices) {
    const lead = srcs[0]!;
    for (let k = 0; k < lead.end - lead.start; k++) {
      for (const rest of lead.structure.layers[lead.start + k] ?? []) {
        need(layerName(lead.structure, rest, outLayer), srcs.map((s) => layerName(s.structure, rest, s.start + k)), srcs);
      }
      outLayer++;
    }
  }
  for (const n of union(last, (s) => s.post)) need(n, last.map(() => n), last);
  // layer tensors a later source has but the first source of its slice lacks are not merged
  const extra = new Map<string, string[]>();
  for (const srcs of slices) {
    const lead = srcs[0]!;
    for (const s of srcs.slice(1)) {
      for (let k = 0; k < lead.end - lead.start; k++) {
        const have = new Set(lead.structure.layers[lead.start + k] ?? []);
        for (const rest of s.structure.layers[s.start + k] ?? []) {
          if (!have.has(rest)) extra.set(s.ref, [...(extra.get(s.ref) ?? []), layerName(s.structure, rest, s.start + k)]);
        }
      }
    }
  }
  for (const [ref, names] of extra) {
    warnings.push(`${ref} has ${names.length} layer tensor${names.length === 1 ? "" : "s"} the output will not contain (the first source of a slice decides a layer's tensors): ${listNames(names)}`);
  }
  for (const [ref, names] of missing) {
    problems.push({ code: "E_TENSOR_MISSING", message: `model ${ref} lacks ${names.length} tensor${names.length === 1 ? "" : "s"} the merge needs: ${listNames(names)}`, fix: fixFor("E_TENSOR_MISSING", config.file) });
  }
  if (shapeIssues.length) problems.push({ code: "E_SHAPE", message: `${shapeIssues.length} tensor${shapeIssues.length === 1 ? " has" : "s have"} different shapes: ${shapeIssues.slice(0, MAX_LISTED).join("; ")}${shapeIssues.length > MAX_LISTED ? `; and ${shapeIssues.length - MAX_LISTED} more` : ""}`, fix: fixFor("E_SHAPE", config.file) });
  if (dtypeIssues.length) problems.push({ code: "E_DTYPE", message: `${dtypeIssues.length} needed tensor${dtypeIssues.length === 1 ? " is" : "s are"} not floating point: ${dtypeIssues.slice(0, MAX_LISTED).join("; ")}`, fix: fixFor("E_DTYPE", config.file) });
  for (const v of vocabNotes) warnings.push(`vocabulary sizes differ for ${v}: the merge keeps the common rows (as MergeKit does without tokenizer_source); tokens past them are dropped`);
}

