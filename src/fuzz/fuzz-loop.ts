// The fuzz loop: cases come from the target's generator or from mutating a corpus of earlier cases;
// a case whose outcome has a behaviour signature not seen before (an error code and message shape,
// or a kind of accepted input) joins the corpus, so mutation concentrates on inputs that reached new
// checks. Anything other than acceptance or an AmalgamError is a finding, as is a slow case.
import { AmalgamError } from "../errors.ts";
import { Rng, mixSeed } from "./rng.ts";
import { FUZZ_TARGETS } from "./target.ts";
import type { AnyFuzzTarget, FuzzCase, FuzzTargetName } from "./target.ts";
import { FUZZ_TARGET_TABLE } from "./targets.ts";

export interface FuzzOptions {
  readonly target: FuzzTargetName;
  readonly seed: number;
  /** Cases to run. */
  readonly cases: number;
  /** Index of the first case (workers split one run into ranges); default 0. */
  readonly first?: number;
  /** Cases longer than this are findings ("slow"); default 1000 ms. */
  readonly slowMs?: number;
  /** Most corpus entries kept; default 512. */
  readonly corpusSize?: number;
  /** Called before each case with its index (a watchdog's heartbeat). */
  readonly onCase?: (index: number) => void;
}

export type FindingKind = "uncaught" | "violation" | "slow" | "unnamed";

export interface FuzzFinding {
  readonly kind: FindingKind;
  readonly target: FuzzTargetName;
  readonly case: number;
  readonly error: string;
  readonly input: unknown;
}

export interface FuzzStats {
  readonly target: FuzzTargetName;
  readonly seed: number;
  readonly first: number;
  cases: number;
  accepted: number;
  rejected: number;
  /** Rejections per error code. */
  readonly codes: Record<string, number>;
  /** Distinct behaviour signatures seen. */
  signatures: number;
  readonly findings: FuzzFinding[];
  maxCaseMs: number;
  totalMs: number;
}

export const MAX_FINDINGS_KEPT = 20;

/** An outcome's signature: the code and the message with names and numbers blanked. */
export function signatureOf(e: AmalgamError): string {
  return `${e.code} ${e.message.replace(/"(?:[^"\\]|\\.)*"/g, "S").replace(/\d+/g, "N").slice(0, 160)}`;
}

export function fuzzTarget(name: FuzzTargetName): AnyFuzzTarget {
  if (!FUZZ_TARGETS.includes(name)) throw new AmalgamError("E_ARGS", `unknown fuzz target "${name}"; expected one of ${FUZZ_TARGETS.join(", ")}`);
  return FUZZ_TARGET_TABLE[name];
}

/** Runs cases [first, first + cases) of one target; deterministic for a seed and range. */
export async function runFuzz(options: FuzzOptions): Promise<FuzzStats> {
  const target = fuzzTarget(options.target);
  const first = options.first ?? 0;
  const slowMs = options.slowMs ?? 1000;
  const corpusSize = options.corpusSize ?? 512;
  const rng = new Rng(mixSeed(options.seed, FUZZ_TARGETS.indexOf(options.target), first));
  const corpus: FuzzCase<unknown, unknown>[] = [];
  const seen = new Set<string>();
  const stats: FuzzStats = {
    target: options.target, seed: options.seed, first, cases: 0, accepted: 0, rejected: 0, codes: {}, signatures: 0, findings: [], maxCaseMs: 0, totalMs: 0,
  };
  const finding = (kind: FindingKind, index: number, error: string, c: FuzzCase<unknown, unknown>) => {
    if (stats.findings.length < MAX_FINDINGS_KEPT) stats.findings.push({ kind, target: options.target, case: index, error, input: target.toJson(c.input) });
  };
  const start = performance.now();
  for (let i = 0; i < options.cases; i++) {
    const index = first + i;
    options.onCase?.(index);
    const c = corpus.length && rng.chance(0.7) ? target.mutate(rng, rng.pick(corpus), rng.pick(corpus)) : target.generate(rng);
    const t0 = performance.now();
    let signature: string;
    try {
      signature = await target.run(c.input);
      stats.accepted++;
    } catch (e) {
      if (e instanceof AmalgamError) {
        stats.rejected++;
        stats.codes[e.code] = (stats.codes[e.code] ?? 0) + 1;
        signature = signatureOf(e);
        if (!target.names.some((n) => e.message.includes(n))) finding("unnamed", index, `${e.code}: ${e.message}`, c);
      } else {
        const err = e as Error;
        signature = `${err?.name ?? "throw"}`;
        finding(err?.name === "FuzzViolation" ? "violation" : "uncaught", index, `${err?.name ?? typeof e}: ${err?.message ?? String(e)}\n${err?.stack ?? ""}`.slice(0, 2000), c);
      }
    }
    const ms = performance.now() - t0;
    stats.maxCaseMs = Math.max(stats.maxCaseMs, ms);
    if (ms > slowMs) finding("slow", index, `case took ${ms.toFixed(0)} ms (limit ${slowMs} ms)`, c);
    stats.cases++;
    if (!seen.has(signature)) {
      seen.add(signature);
      if (corpus.length < corpusSize) corpus.push(c);
      else corpus[rng.int(corpus.length)] = c;
    } else if (corpus.length < corpusSize / 4 && rng.chance(0.01)) corpus.push(c);
  }
  stats.signatures = seen.size;
  stats.totalMs = performance.now() - start;
  return stats;
}

/** Findings of all kinds in a list of stats. */
export function countFindings(all: readonly FuzzStats[]): Record<FindingKind, number> {
  const out: Record<FindingKind, number> = { uncaught: 0, violation: 0, slow: 0, unnamed: 0 };
  for (const s of all) for (const f of s.findings) out[f.kind]++;
  return out;
}
