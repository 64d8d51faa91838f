// Terminal text of `amalgam check`.
import type { CheckReport } from "./check-merge.ts";
import { planSummaryRows } from "./plan-summary.ts";
import { fmtBytes, fmtSeconds, textTable } from "./text-table.ts";

export function checkText(r: CheckReport): string {
  let out = `check ${r.config}: ${r.ok ? "the merge would succeed" : `the merge would fail (${r.problems.length} problem${r.problems.length === 1 ? "" : "s"})`}\n`;
  const rows: string[][] = [];
  if (r.plan) rows.push(...planSummaryRows(r.plan, false));
  const donor = r.plan?.models.find((m) => m.donor)?.model;
  const modelRows = r.models.map((m, i) => [i === 0 ? "models" : "", m.loaded
    ? `${m.model}${m.model === donor ? " (donates config and tokenizer)" : ""}: ${m.architecture ?? "unknown architecture"}, ${m.layers ?? "?"} layers, ${m.dtypes.join("/")}, vocabulary ${m.embedRows ?? m.vocabSize ?? "?"}${m.tokenizer ? `, tokenizer ${m.tokenizer.type ?? "?"} (${m.tokenizer.vocabSize ?? "?"} tokens)` : ", no tokenizer"}`
    : `${m.model}: not loaded`]);
  rows.push(...modelRows);
  for (const [i, c] of r.tokenizers.entries()) {
    rows.push([i === 0 ? "tokenizers" : "", !c.compared ? `${c.b}: not compared (tokenizer.json missing)` : c.identical ? `${c.b}: same as ${c.a}` : `${c.b}: ${c.differing + c.onlyA + c.onlyB} ids differ from ${c.a}`]);
  }
  if (r.time) {
    const t = r.time;
    const write = t.writeSeconds !== null && t.writeRate !== null
      ? `writing ${fmtBytes(t.writeBytes)} at ${fmtBytes(t.writeRate)}/s (${fmtSeconds(t.writeSeconds)})`
      : `writing ${fmtBytes(t.writeBytes)} not counted (give OUT_DIR to time it)`;
    rows.push(["time", `about ${fmtSeconds(t.seconds)} on this machine: reading ${fmtBytes(t.readBytes)} at ${fmtBytes(t.readRate)}/s (${fmtSeconds(t.readSeconds)}), merging ${fmtSeconds(t.mergeSeconds)} on ${t.threads} thread${t.threads === 1 ? "" : "s"}${t.methodTimed ? "" : " (method not timed: a lower bound)"}, ${write}`]);
  }
  if (r.memory) {
    const m = r.memory;
    rows.push(["memory", `about ${fmtBytes(m.processBytes)} peak; ${fmtBytes(m.kernelBytes)} of kernel memory reserved${m.tiledTensors || m.streamedTensors ? ` (tiles of ${m.tileElements} elements${m.streamedTensors ? `; ${m.streamedTensors} tensors merged in passes over them` : ""})` : ""}${m.wholeTensors ? `, ${m.wholeTensors} tensors merged whole (largest ${fmtBytes(m.largestWholeBytes)})` : ""}${m.exact ? "" : ", plus the method's temporaries"}`]);
  }
  out += textTable(rows);
  if (r.warnings.length) out += `warnings\n${r.warnings.map((w) => `  - ${w}\n`).join("")}`;
  if (r.problems.length) out += `problems\n${r.problems.map((p, i) => `  ${i + 1}. [${p.code}] ${p.message}\n     fix: ${p.fix}\n`).join("")}`;
  return out;
}
