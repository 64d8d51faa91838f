// Terminal text of `amalgam explain`: one table per group (before the layers, each layer, after),
// a column per source with its parameters; `[filter]` marks a value chosen by a filter,
// `(default)` a method default. Uniform dtypes and global parameters move to the header.
import type { ExplainParam, ExplainReport, ExplainTensor } from "./explain.ts";
import { fmtNum, fmtShape, textTable } from "./text-table.ts";

/** Short, unique labels for model references (the last path component where that is unique). */
export function modelLabels(refs: readonly string[]): Map<string, string> {
  const short = (r: string) => r.replace(/[/\\]+$/, "").split(/[/\\]/).pop() || r;
  const counts = new Map<string, number>();
  for (const r of refs) counts.set(short(r), (counts.get(short(r)) ?? 0) + 1);
  return new Map(refs.map((r) => [r, counts.get(short(r))! > 1 ? r : short(r)]));
}

export function paramText(p: ExplainParam): string {
  const tag = p.origin.kind === "default" ? " (default)" : p.origin.filter !== null && p.origin.filter !== "*" ? ` [${p.origin.filter}]` : "";
  return p.value === null ? `${p.name} unset` : `${p.name} ${fmtNum(p.value)}${tag}`;
}

function paramsText(ps: readonly ExplainParam[]): string {
  return ps.map(paramText).join(", ");
}

function groupKey(t: ExplainTensor): string {
  return t.role === "layer" ? `layer ${t.layer}` : t.role;
}

export function explainText(r: ExplainReport): string {
  const labels = modelLabels(r.models);
  const dtypes = new Set(r.tensors.map((t) => `${t.workingDtype}\0${t.outDtype}`));
  const globals = new Set(r.tensors.map((t) => paramsText(t.global)));
  const uniformDtype = dtypes.size <= 1;
  const uniformGlobal = globals.size <= 1;
  const first = r.tensors[0];
  const head: string[][] = [
    ["models", r.models.map((m) => (labels.get(m) === m ? m : `${labels.get(m)} = ${m}`)).join(", ") + (r.base ? `; base model ${labels.get(r.base)}` : "")],
    ["output", `${r.layers} layers, ${r.tensors.length === r.tensorsTotal ? `${r.tensorsTotal} tensors` : `${r.tensors.length} of ${r.tensorsTotal} tensors shown`}` +
      (uniformDtype && first ? `, working ${first.workingDtype}, output ${first.outDtype}` : "")],
  ];
  if (uniformGlobal && first && first.global.length) head.push(["global", paramsText(first.global)]);
  let out = `${r.method} merge: ${r.config}\n${textTable(head)}`;
  for (const w of r.warnings) out += `  warning: ${w}\n`;
  const groups = new Map<string, ExplainTensor[]>();
  for (const t of r.tensors) {
    const k = groupKey(t);
    if (!groups.has(k)) groups.set(k, []);
    groups.get(k)!.push(t);
  }
  for (const [key, ts] of groups) {
    const g = ts[0]!;
    const title = g.role === "pre" ? "before the layers" : g.role === "post" ? "after the layers" : key;
    out += `\n${title} (t = ${fmtNum(g.t)})\n`;
    const n = Math.max(...ts.map((t) => t.sources.length));
    const header = ["tensor", "shape"];
    if (!uniformDtype) header.push("dtype");
    if (!uniformGlobal) header.push("global");
    for (let i = 0; i < n; i++) {
      const s = g.sources[i];
      if (!s) { header.push(""); continue; }
      const moved = g.role === "layer" && s.layer !== null && s.layer !== g.layer ? ` (layer ${s.layer})` : "";
      header.push(`${labels.get(s.model)}${s.base ? " (base)" : ""}${moved}`);
    }
    const rows: string[][] = [header];
    for (const t of ts) {
      const prefix = t.role === "layer" ? t.name.slice(t.name.indexOf(`.${t.layer}.`) + `.${t.layer}.`.length) : t.name;
      const row = [prefix, fmtShape(t.shape)];
      if (!uniformDtype) row.push(`${t.sources.map((s) => s.dtype).join("/")} -> ${t.workingDtype} -> ${t.outDtype}`);
      if (!uniformGlobal) row.push(paramsText(t.global) || "-");
      for (let i = 0; i < n; i++) {
        const s = t.sources[i];
        if (!s) { row.push(""); continue; }
        let cell = paramsText(s.params) || "-";
        if (t.role !== "layer" && s.tensor !== t.name) cell += ` <- ${s.tensor}`;
        if (s.shape.join() !== t.shape.join()) cell += ` ${fmtShape(s.shape)}`;
        row.push(cell);
      }
      rows.push(row);
    }
    out += textTable(rows);
  }
  return out;
}
