import type { ParameterSetting, ScalarOrGradient } from "./types.ts";

/** A gradient list evaluated at t in [0, 1] (piecewise-linear, float64, as MergeKit does). */
export function interpolate(value: ScalarOrGradient, t: number): number {
  if (typeof value === "number") return value;
  const n = value.length;
  if (n === 1) return value[0]!;
  const s = t * (n - 1);
  const i0 = Math.trunc(s);
  const i1 = Math.min(n - 1, i0 + 1);
  const f = s - i0;
  return (1 - f) * value[Math.min(i0, n - 1)]! + f * value[i1]!;
}

/** True when a filter matches a tensor name: none, "*", or a substring of the name. */
export function filterMatches(filter: string | undefined, tensorName: string): boolean {
  return filter === undefined || filter === "*" || tensorName.includes(filter);
}

/** One precedence level's value for a tensor, or undefined when no filter matches. */
export function evaluateSetting(setting: ParameterSetting, tensorName: string, t: number): number | undefined {
  if (setting.kind === "value") return interpolate(setting.value, t);
  for (const c of setting.items) {
    if (filterMatches(c.filter, tensorName)) return interpolate(c.value, t);
  }
  return undefined;
}
