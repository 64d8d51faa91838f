// Terminal text of `amalgam inspect`: a summary, then the tensors with the layers folded together
// (`model.layers.{0-31}.mlp.up_proj.weight` when every layer has it with the same dtype and shape).
import { parseLayerName } from "../plan/structure.ts";
import { layerRanges } from "./layer-groups.ts";
import type { InspectReport } from "./model-summary.ts";
import type { TokenizerSummary } from "./tokenizer-info.ts";
import { fmtBytes, fmtCount, fmtShape, textTable } from "./text-table.ts";

export function tokenizerLine(t: TokenizerSummary | null): string {
  if (!t) return "none";
  const parts: string[] = [];
  parts.push(t.type ?? "unknown type");
  if (t.vocabSize !== null) parts.push(`${t.vocabSize} tokens (${t.addedTokens} added)`);
  if (t.specialTokens.length) parts.push(`special ${t.specialTokens.join(" ")}`);
  const named = (["bos", "eos", "pad", "unk"] as const).filter((k) => t[k] !== null).map((k) => `${k} ${t[k]}`);
  if (named.length) parts.push(named.join(", "));
  parts.push(t.chatTemplate ? "chat template" : "no chat template");
  if (t.tokenizerClass) parts.push(t.tokenizerClass);
  return parts.join("; ");
}

/** Tensor rows with identical per-layer tensors folded into one `{a-b}` row. */
export function foldedTensorRows(r: InspectReport): string[][] {
  const rows: string[][] = [];
  const layerRows = new Map<string, { layers: number[]; dtype: string; shape: readonly number[]; prefix: string; rest: string }>();
  const order: string[] = [];
  const emit = (name: string, dtype: string, shape: readonly number[]) => rows.push([name, dtype, fmtShape(shape)]);
  const pre = r.tensors.filter((t) => t.role === "pre");
  const post = r.tensors.filter((t) => t.role === "post");
  for (const t of pre) emit(t.name, t.dtype, t.shape);
  for (const t of r.tensors.filter((x) => x.role === "layer")) {
    const l = parseLayerName(t.name)!;
    const key = `${l.prefix}\0${l.rest}\0${t.dtype}\0${t.shape.join(",")}`;
    let e = layerRows.get(key);
    if (!e) {
      layerRows.set(key, (e = { layers: [], dtype: t.dtype, shape: t.shape, prefix: l.prefix, rest: l.rest }));
      order.push(key);
    }
    e.layers.push(l.index);
  }
  const sorted = order.map((k) => layerRows.get(k)!).sort((a, b) => Math.min(...a.layers) - Math.min(...b.layers) || (a.rest < b.rest ? -1 : a.rest > b.rest ? 1 : 0));
  for (const e of sorted) {
    const name = e.layers.length === 1 ? `${e.prefix}.${e.layers[0]!}.${e.rest}` : `${e.prefix}.{${layerRanges(e.layers)}}.${e.rest}`;
    emit(name, e.dtype, e.shape);
  }
  for (const t of post) emit(t.name, t.dtype, t.shape);
  return rows;
}

export function inspectText(r: InspectReport): string {
  const cfg = Object.entries(r.config).map(([k, v]) => `${k} ${v}`).join(", ");
  const head: string[][] = [
    ["architecture", `${r.architecture ?? "unknown"}${r.modelType ? ` (${r.modelType})` : ""}`],
    ["layers", `${r.layers}${r.layerCountKey ? ` (${r.layerCountKey})` : " (from tensor names)"}${r.layerPrefix ? `, prefix ${r.layerPrefix}` : ""}`],
    ["parameters", `${fmtCount(r.parameters)} (${r.parameters}) in ${r.tensors.length} tensors, ${fmtBytes(r.bytes)}`],
    ["dtypes", r.dtypes.map((d) => `${d.dtype} ${d.tensors} tensors (${fmtCount(d.parameters)} parameters)`).join(", ")],
  ];
  const shown = r.shards.length <= 8 ? r.shards : [...r.shards.slice(0, 4), ...r.shards.slice(-2)];
  shown.forEach((sh, i) => {
    head.push([i === 0 ? "shards" : "", `${sh.file} (${sh.tensors} tensor${sh.tensors === 1 ? "" : "s"}, ${fmtBytes(sh.bytes)})`]);
    if (r.shards.length > 8 && i === 3) head.push(["", `... ${r.shards.length - 6} more`]);
  });
  head.push(["config", cfg || "-"], ["tokenizer", tokenizerLine(r.tokenizer)]);
  let out = `${r.model}\n${textTable(head)}`;
  for (const w of r.warnings) out += `  warning: ${w}\n`;
  out += `tensors\n${textTable(foldedTensorRows(r))}`;
  return out;
}
