// Splitting one merge across N processes or machines (`--shard I/N`): output shards are assigned
// to parts deterministically from the plan, each part writes its shard files and a manifest, and
// `assemble` writes the remaining files once every part is there.
import { AmalgamError } from "../errors.ts";
import type { MergePlan } from "../plan/types.ts";

export const PART_MANIFEST_VERSION = 1;

export interface PartManifest {
  readonly amalgamPart: number;
  readonly index: number;
  readonly count: number;
  /** Identifies the plan (tensors, dtypes, shapes, shard layout): every part must agree. */
  readonly planId: string;
  readonly files: readonly string[];
  readonly config: string;
  readonly options: PartOptions;
}

/** The merge options that shape the output, recorded so `assemble` finishes the same way. */
export interface PartOptions {
  readonly outShardSize: number | undefined;
  readonly copyTokenizer: boolean;
  readonly writeModelCard: boolean;
  readonly outputName: string | undefined;
  /** --fix-quirks, which can change output dtypes (absent in manifests written before it was recorded). */
  readonly fixQuirks?: boolean;
  /** --allow-crimes (absent in manifests of earlier versions: false). */
  readonly allowCrimes?: boolean;
}

/**
 * Shard files per part (index 0 = part 1): shards in order, each to the part with the fewest bytes
 * so far (ties to the lowest part), so parts get similar work.
 */
export function assignShards(plan: MergePlan, count: number): string[][] {
  const parts: string[][] = Array.from({ length: count }, () => []);
  const load = new Array<number>(count).fill(0);
  for (const s of plan.shards) {
    let best = 0;
    for (let i = 1; i < count; i++) if (load[i]! < load[best]!) best = i;
    parts[best]!.push(s.file);
    load[best]! += s.layout.totalBytes;
  }
  return parts;
}

/** FNV-1a (32-bit, hex) of the plan's shard layout: headers hold every tensor's name, dtype and shape. */
export function planId(plan: MergePlan): string {
  let h = 0x811c9dc5;
  const mix = (bytes: Uint8Array) => {
    for (const b of bytes) h = Math.imul(h ^ b, 0x01000193) >>> 0;
  };
  for (const s of plan.shards) {
    mix(new TextEncoder().encode(s.file));
    mix(s.layout.header);
  }
  return h.toString(16).padStart(8, "0");
}

export function partManifestName(part: { index: number; count: number }): string {
  return `amalgam-part-${part.index}-of-${part.count}.json`;
}

export function partManifest(plan: MergePlan, part: { index: number; count: number }, files: readonly string[], options: PartOptions): string {
  const m: PartManifest = { amalgamPart: PART_MANIFEST_VERSION, index: part.index, count: part.count, planId: planId(plan), files: [...files], config: plan.config.text, options };
  return JSON.stringify(m, null, 2) + "\n";
}

/** Checks that manifests cover parts 1..N of the same plan; returns N. */
export function checkParts(plan: MergePlan, manifests: readonly PartManifest[]): number {
  if (manifests.length === 0) throw new AmalgamError("E_OUTPUT", "no part manifests (amalgam-part-I-of-N.json) found in the output directory");
  const count = manifests[0]!.count;
  const id = planId(plan);
  const seen = new Set<number>();
  for (const m of manifests) {
    if (m.amalgamPart !== PART_MANIFEST_VERSION) throw new AmalgamError("E_OUTPUT", `part manifest ${m.index}/${m.count} has version ${String(m.amalgamPart)}, expected ${PART_MANIFEST_VERSION}`);
    if (m.count !== count) throw new AmalgamError("E_OUTPUT", `part manifests disagree on the number of parts (${count} and ${m.count})`);
    if (m.planId !== id) throw new AmalgamError("E_OUTPUT", `part ${m.index}/${m.count} was made from a different plan (${m.planId}, this config gives ${id}): same config and --out-shard-size are needed`);
    seen.add(m.index);
  }
  const missing = Array.from({ length: count }, (_, i) => i + 1).filter((i) => !seen.has(i));
  if (missing.length) throw new AmalgamError("E_OUTPUT", `parts ${missing.join(", ")} of ${count} are not finished yet (no manifest)`);
  const expected = assignShards(plan, count).flat().sort();
  const have = manifests.flatMap((m) => m.files.filter((f) => f.endsWith(".safetensors"))).sort();
  if (expected.join("\n") !== have.join("\n")) throw new AmalgamError("E_OUTPUT", `the parts' shard files (${have.join(", ")}) do not match the plan's (${expected.join(", ")})`);
  return count;
}

/** Parses a manifest read from an output directory (untrusted JSON). */
export function parsePartManifest(text: string, file: string): PartManifest {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new AmalgamError("E_OUTPUT", `${file}: not valid JSON (${(e as Error).message})`);
  }
  const m = v as Partial<PartManifest>;
  if (typeof m !== "object" || m === null || typeof m.index !== "number" || typeof m.count !== "number" || typeof m.planId !== "string" ||
    !Array.isArray(m.files) || !m.files.every((f) => typeof f === "string") || typeof m.config !== "string" || typeof m.options !== "object" || m.options === null) {
    throw new AmalgamError("E_OUTPUT", `${file}: not an Amalgam part manifest`);
  }
  return m as PartManifest;
}
