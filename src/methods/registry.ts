// The method registry: an explicit table, one entry per method file.
import { AmalgamError } from "../errors.ts";
import linear from "./linear.ts";
import passthrough from "./passthrough.ts";
import type { MethodDef } from "./types.ts";
import { SPHERICAL_METHODS } from "./spherical/index.ts";
import { GTA_METHODS } from "./gta/index.ts";
import { MISC_METHODS } from "./misc/index.ts";

const METHODS: readonly MethodDef[] = [linear, passthrough, ...SPHERICAL_METHODS, ...GTA_METHODS, ...MISC_METHODS];

/** MergeKit's method names that Amalgam does not implement yet. */
const ALL_MERGEKIT_METHODS: readonly string[] = [
  "slerp", "nuslerp", "multislerp", "karcher", "task_arithmetic", "ties", "dare_ties", "dare_linear",
  "breadcrumbs", "breadcrumbs_ties", "della", "della_linear", "model_stock", "sce", "nearswap",
  "arcee_fusion", "ram", "ramplus_tl",
];

export const PLANNED_METHODS: readonly string[] = ALL_MERGEKIT_METHODS.filter((n) => !METHODS.some((m) => m.name === n));

export function listMethods(): readonly MethodDef[] {
  return METHODS;
}

export function getMethod(name: string, where = "merge_method"): MethodDef {
  const m = METHODS.find((d) => d.name === name);
  if (m) return m;
  const known = METHODS.map((d) => d.name).join(", ");
  if (PLANNED_METHODS.includes(name)) {
    throw new AmalgamError("E_UNSUPPORTED", `${where}: MergeKit's "${name}" method is not implemented in Amalgam yet; available: ${known}`);
  }
  throw new AmalgamError("E_UNKNOWN_METHOD", `${where}: unknown merge method "${name}"; expected one of: ${known}`);
}
