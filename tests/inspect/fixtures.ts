// Test models made from the shipped examples: copies with tensors changed, added or removed, other
// vocabularies and tokenizers (written with a plain safetensors writer, any dtype).
import { cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { readTensors } from "../helpers/safetensors-read.ts";
import type { ReadTensor } from "../helpers/safetensors-read.ts";
import { tempDir } from "../helpers/run-merge.ts";

export const ROOT = resolve(import.meta.dirname, "..", "..");
export const EXAMPLES = join(ROOT, "examples", "models");

export interface RawTensor {
  readonly dtype: string;
  readonly shape: readonly number[];
  readonly raw: Uint8Array;
}

/** Writes one safetensors file with tensors in the given order (no padding rules, any dtype). */
export function writeSafetensors(path: string, tensors: ReadonlyMap<string, RawTensor>): void {
  const head: Record<string, unknown> = { __metadata__: { format: "pt" } };
  let off = 0;
  for (const [name, t] of tensors) {
    head[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [off, off + t.raw.length] };
    off += t.raw.length;
  }
  let json = JSON.stringify(head);
  json += " ".repeat((8 - (json.length % 8)) % 8);
  const out = new Uint8Array(8 + json.length + off);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(new TextEncoder().encode(json), 8);
  let at = 8 + json.length;
  for (const t of tensors.values()) { out.set(t.raw, at); at += t.raw.length; }
  writeFileSync(path, out);
}

/**
 * A copy of examples/models/<name> in a temp dir, single-file, with `edit` applied to its tensors
 * (a mutable map: delete, replace, add) and optional config.json / tokenizer.json edits.
 */
export function derivedModel(name: string, edit: (t: Map<string, RawTensor>) => void, opts: {
  config?: (c: Record<string, unknown>) => void;
  tokenizer?: (t: { model: { vocab: Record<string, number> }; added_tokens: unknown[] }) => void;
  dir?: string;
} = {}): string {
  const dir = opts.dir ?? join(tempDir("amalgam-fixture-"), name);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const src = join(EXAMPLES, name);
  for (const f of ["config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "generation_config.json"]) cpSync(join(src, f), join(dir, f));
  const tensors = new Map<string, RawTensor>([...readTensors(src)].sort((a, b) => (a[0] < b[0] ? -1 : 1)).map(([n, t]: [string, ReadTensor]) => [n, { dtype: t.dtype, shape: t.shape, raw: new Uint8Array(t.raw) }]));
  edit(tensors);
  writeSafetensors(join(dir, "model.safetensors"), tensors);
  if (opts.config) {
    const c = JSON.parse(readFileSync(join(dir, "config.json"), "utf8")) as Record<string, unknown>;
    opts.config(c);
    writeFileSync(join(dir, "config.json"), JSON.stringify(c, null, 2));
  }
  if (opts.tokenizer) {
    const t = JSON.parse(readFileSync(join(dir, "tokenizer.json"), "utf8"));
    opts.tokenizer(t);
    writeFileSync(join(dir, "tokenizer.json"), JSON.stringify(t));
  }
  return dir;
}

/** `rows` more rows of zeros (bf16) appended to a 2-D tensor. */
export function grownRows(t: RawTensor, rows: number): RawTensor {
  const cols = t.shape[1]!;
  const w = t.raw.length / (t.shape[0]! * cols);
  const raw = new Uint8Array(t.raw.length + rows * cols * w);
  raw.set(t.raw);
  return { dtype: t.dtype, shape: [t.shape[0]! + rows, cols], raw };
}
