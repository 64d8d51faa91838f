// Terminal text of `amalgam diff`: per-layer summary, then (with --tensors) every tensor, then
// what could not be compared.
import type { DiffReport, DiffStats } from "./diff-models.ts";
import { fmtCount, fmtPct, fmtShape, fmtStat, textTable } from "./text-table.ts";
import type { Align } from "./text-table.ts";

const HEAD = ["elements", "changed", "rel L2", "cosine"];
const ALIGN: Align[] = ["left", "right", "right", "right", "right", "right"];

function cells(s: DiffStats): string[] {
  return [fmtCount(s.elements), fmtPct(s.changedFraction), fmtStat(s.relL2), s.cosine === null ? "-" : s.cosine.toFixed(6)];
}

export function diffText(r: DiffReport, perTensor: boolean): string {
  const compared = r.tensors.filter((t) => t.status === "compared" || t.status === "partial").length;
  let out = `diff ${r.a} -> ${r.b}: ${r.identical ? "identical" : `${compared} of ${r.tensors.length} tensors compared`}\n`;
  out += "per layer (rel L2 = ||B - A|| / ||A||)\n";
  const rows: string[][] = [["group", "tensors", ...HEAD]];
  for (const g of r.layers) rows.push([g.group, String(g.tensors), ...cells(g)]);
  rows.push(["all", String(r.total.tensors), ...cells(r.total)]);
  out += textTable(rows, ALIGN);
  if (perTensor) {
    out += "per tensor\n";
    const trows: string[][] = [["tensor", "shape", "dtype", ...HEAD, "max |B-A|"]];
    for (const t of r.tensors) {
      const shape = t.shapeA && t.shapeB && t.shapeA.join() !== t.shapeB.join() ? `${fmtShape(t.shapeA)} vs ${fmtShape(t.shapeB)}` : fmtShape(t.shapeA ?? t.shapeB ?? []);
      const dtype = t.dtypeA && t.dtypeB && t.dtypeA !== t.dtypeB ? `${t.dtypeA} vs ${t.dtypeB}` : (t.dtypeA ?? t.dtypeB ?? "");
      const comparedRow = t.status === "compared" || t.status === "partial";
      trows.push([t.name, shape, dtype, ...(comparedRow ? [...cells(t), fmtStat(t.maxAbsDiff)] : [t.status, "", "", "", ""])]);
    }
    out += textTable(trows, ["left", "left", "left", "right", "right", "right", "right", "right"]);
  }
  const notes: string[] = [];
  if (r.onlyA.length) notes.push(`only in ${r.a}: ${r.onlyA.join(", ")}`);
  if (r.onlyB.length) notes.push(`only in ${r.b}: ${r.onlyB.join(", ")}`);
  for (const t of r.tensors) {
    if (t.status === "partial") notes.push(`${t.name}: shapes ${fmtShape(t.shapeA!)} vs ${fmtShape(t.shapeB!)}, the first ${t.rowsCompared} rows compared`);
    else if (t.status === "shape-mismatch") notes.push(`${t.name}: shapes ${fmtShape(t.shapeA!)} vs ${fmtShape(t.shapeB!)}, not compared`);
    else if (t.status === "not-float") notes.push(`${t.name}: ${t.dtypeA} vs ${t.dtypeB}, not compared (not floating point)`);
    else if (t.dtypeA !== t.dtypeB && t.dtypeA && t.dtypeB) notes.push(`${t.name}: dtypes ${t.dtypeA} vs ${t.dtypeB} (values compared)`);
  }
  if (notes.length) out += `notes\n${notes.map((n) => `  - ${n}\n`).join("")}`;
  return out;
}
