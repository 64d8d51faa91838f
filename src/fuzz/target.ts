// What a fuzz target is: a generator of structured cases, a structure-aware mutator, and a run
// that either accepts (returning a behaviour signature), rejects with an AmalgamError, or fails.
import type { Rng } from "./rng.ts";

export type FuzzTargetName = "safetensors" | "index" | "config" | "yaml" | "json" | "pytorch";
export const FUZZ_TARGETS: readonly FuzzTargetName[] = ["safetensors", "index", "config", "yaml", "json", "pytorch"];

/** An input plus the structure it was rendered from (absent once only bytes are left). */
export interface FuzzCase<I, G> {
  readonly input: I;
  readonly genome: G | undefined;
}

export interface FuzzTarget<I, G> {
  readonly name: FuzzTargetName;
  /** What the target parses, for reports. */
  readonly about: string;
  /** Every AmalgamError message must contain one of these (the file or model it is about). */
  readonly names: readonly string[];
  generate(rng: Rng): FuzzCase<I, G>;
  mutate(rng: Rng, parent: FuzzCase<I, G>, other: FuzzCase<I, G>): FuzzCase<I, G>;
  /** Accepts (returns a signature of what was accepted) or throws an AmalgamError. */
  run(input: I): Promise<string>;
  /** A JSON-able form of an input, for saved findings. */
  toJson(input: I): unknown;
}

/** A target with its input and genome types erased, for the loop and the registry. */
export interface AnyFuzzTarget {
  readonly name: FuzzTargetName;
  readonly about: string;
  readonly names: readonly string[];
  generate(rng: Rng): FuzzCase<unknown, unknown>;
  mutate(rng: Rng, parent: FuzzCase<unknown, unknown>, other: FuzzCase<unknown, unknown>): FuzzCase<unknown, unknown>;
  run(input: unknown): Promise<string>;
  toJson(input: unknown): unknown;
}

export function eraseTarget<I, G>(t: FuzzTarget<I, G>): AnyFuzzTarget {
  return t as unknown as AnyFuzzTarget;
}

/** An accepted input that breaks what the parser promises (a silently wrong result). */
export class FuzzViolation extends Error {
  override readonly name = "FuzzViolation";
}

export function base64(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

export function fromBase64(text: string): Uint8Array {
  const s = atob(text);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}
