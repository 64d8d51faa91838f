// Plain-text tables and number formats for the inspection commands' terminal output.

export type Align = "left" | "right";

/** Rows of cells padded into columns (two spaces apart); `align` per column, default left. */
export function textTable(rows: readonly (readonly string[])[], align: readonly Align[] = [], indent = "  "): string {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => { widths[i] = Math.max(widths[i] ?? 0, c.length); });
  return rows.map((r) => indent + r.map((c, i) => {
    if (i === r.length - 1 && align[i] !== "right") return c;
    return align[i] === "right" ? c.padStart(widths[i]!) : c.padEnd(widths[i]!);
  }).join("  ").trimEnd()).join("\n") + (rows.length ? "\n" : "");
}

/** Bytes in decimal units (as --out-shard-size counts them). */
export function fmtBytes(n: number): string {
  const u = ["B", "KB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1000 && i < u.length - 1) { n /= 1000; i++; }
  return `${n.toFixed(i ? 1 : 0)} ${u[i]}`;
}

/** A count with K/M/B suffixes: 1234567 -> 1.23 M. */
export function fmtCount(n: number): string {
  if (n < 1000) return String(n);
  const u = ["K", "M", "B", "T"];
  let i = -1;
  while (n >= 1000 && i < u.length - 1) { n /= 1000; i++; }
  return `${n.toPrecision(3)} ${u[i]}`;
}

/** A parameter value: up to 6 significant digits, no trailing zeros. */
export function fmtNum(x: number | null | undefined): string {
  if (x === null || x === undefined) return "-";
  if (Number.isInteger(x)) return String(x);
  return String(Number(x.toPrecision(6)));
}

/** A fraction as a percentage with 2 decimals ("-" for null). */
export function fmtPct(x: number | null): string {
  return x === null ? "-" : `${(x * 100).toFixed(2)}%`;
}

/** A statistic in short scientific or fixed form ("-" for null). */
export function fmtStat(x: number | null, digits = 4): string {
  if (x === null) return "-";
  if (x === 0) return "0";
  if (!Number.isFinite(x)) return String(x);
  const a = Math.abs(x);
  return a >= 1e-3 && a < 1e4 ? x.toFixed(digits).replace(/\.?0+$/, (m) => (m.startsWith(".") ? "" : m)) : x.toExponential(2);
}

export function fmtShape(shape: readonly number[]): string {
  return `[${shape.join(", ")}]`;
}

export function fmtSeconds(s: number): string {
  if (s < 1) return `${(s * 1000).toFixed(0)} ms`;
  if (s < 120) return `${s.toFixed(1)} s`;
  if (s < 7200) return `${(s / 60).toFixed(1)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}
