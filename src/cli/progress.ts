import type { MergeProgress } from "../executor/merge.ts";

function fmtBytes(n: number): string {
  const u = ["B", "KB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1000 && i < u.length - 1) { n /= 1000; i++; }
  return `${n.toFixed(i ? 1 : 0)} ${u[i]}`;
}

function fmtTime(s: number): string {
  if (!Number.isFinite(s)) return "--:--";
  s = Math.round(s);
  const m = Math.floor(s / 60);
  return `${String(m).padStart(2, "0")}:${String(s % 60).padStart(2, "0")}`;
}

/** One progress line: bar, tensors, bytes, rate and ETA. */
export function progressLine(p: MergeProgress, elapsedS: number, columns: number): string {
  const frac = p.bytesTotal ? p.bytesDone / p.bytesTotal : p.tensorsTotal ? p.tensorsDone / p.tensorsTotal : 1;
  const rate = elapsedS > 0 ? p.bytesDone / elapsedS : 0;
  const eta = rate > 0 ? (p.bytesTotal - p.bytesDone) / rate : Infinity;
  const stats = ` ${p.tensorsDone}/${p.tensorsTotal} tensors  ${fmtBytes(p.bytesDone)}/${fmtBytes(p.bytesTotal)}  ${fmtBytes(rate)}/s  ETA ${fmtTime(eta)}`;
  const width = Math.max(10, Math.min(40, columns - stats.length - 3));
  const fill = Math.round(frac * width);
  return `[${"#".repeat(fill)}${"-".repeat(width - fill)}]${stats}`;
}

export { fmtBytes };
