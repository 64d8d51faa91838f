// Shared by the merge tests: generate models into a temp dir, run a config through `runMerge`,
// and compare every output file with what the torch reference says MergeKit writes.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { expect } from "vitest";
import { writeModel } from "../fixtures/make-model.ts";
import type { GeneratedModel, ModelOptions } from "../fixtures/make-model.ts";
import { runMerge, tempDir } from "../helpers/run-merge.ts";
import type { MergeOptions, MergeResult } from "../../src/executor/merge.ts";
import { readTensors } from "../helpers/safetensors-read.ts";
import { referenceFile, referenceMerge, referenceShards } from "../helpers/torch-reference.ts";
import type { RefMerge, RefShards } from "../helpers/torch-reference.ts";

export interface Fixture {
  readonly root: string;
  readonly models: ReadonlyMap<string, GeneratedModel>;
}

/** Writes each model under `root/<key>`; config paths are the keys. */
export function makeModels(specs: Record<string, ModelOptions>): Fixture {
  const root = tempDir("amalgam-merge-");
  const models = new Map<string, GeneratedModel>();
  for (const [key, opts] of Object.entries(specs)) models.set(key, writeModel(join(root, key), opts));
  return { root, models };
}

export interface Checked {
  readonly out: string;
  readonly ref: RefMerge;
  readonly shards: RefShards;
  readonly result: MergeResult & { warnings: string[] };
}

function firstDifference(got: Uint8Array, want: Uint8Array, file: string): string {
  let i = 0;
  while (i < got.length && i < want.length && got[i] === want[i]) i++;
  return `${file}: ${got.length} bytes, expected ${want.length}; first difference at byte ${i}`;
}

/** Describes the first tensor whose bytes differ, for a readable failure. */
function describeTensorDiff(out: string, ref: RefMerge): string | undefined {
  const got = readTensors(out);
  for (const t of ref.tensors) {
    const g = got.get(t.name);
    if (!g) return `missing tensor ${t.name}`;
    if (g.dtype !== t.dtype || JSON.stringify(g.shape) !== JSON.stringify(t.shape)) return `${t.name}: ${g.dtype}${JSON.stringify(g.shape)}, expected ${t.dtype}${JSON.stringify(t.shape)}`;
    const w = t.dtype === "F32" ? 4 : 2;
    for (let i = 0; i < t.raw.length; i++) {
      if (g.raw[i] !== t.raw[i]) {
        const e = Math.floor(i / w);
        const hex = (b: Uint8Array) => Array.from(b.subarray(e * w, e * w + w)).reverse().map((x) => x.toString(16).padStart(2, "0")).join("");
        return `${t.name} element ${e}: got 0x${hex(g.raw)}, expected 0x${hex(t.raw)}`;
      }
    }
  }
  if (got.size !== ref.tensors.length) return `got ${got.size} tensors, expected ${ref.tensors.length}`;
  return undefined;
}

/**
 * Runs `yaml` with model paths relative to the fixture root and checks the output directory
 * against the reference: tensor bytes, safetensors files, shard names, index and config.json.
 */
export async function expectMatchesReference(fx: Fixture, yaml: string, opts: { outShardSize?: number; merge?: Partial<MergeOptions> } = {}): Promise<Checked> {
  const out = join(tempDir("amalgam-out-"), "merged");
  const result = await runMerge(yaml, fx.root, out, { ...(opts.outShardSize === undefined ? {} : { outShardSize: opts.outShardSize }), ...opts.merge });
  const ref = referenceMerge(yaml, (p) => {
    const m = fx.models.get(p);
    if (!m) throw new Error(`no fixture model ${p}`);
    return m;
  });
  const shards = referenceShards(ref.tensors, opts.outShardSize ?? 5_000_000_000);

  expect(describeTensorDiff(out, ref)).toBeUndefined();
  const files = readdirSync(out).filter((f) => f.endsWith(".safetensors")).sort();
  expect(files).toEqual([...shards.files.keys()].sort());
  for (const [file, tensors] of shards.files) {
    const got = readFileSync(join(out, file));
    const want = referenceFile(tensors);
    expect(got.equals(want), firstDifference(got, want, file)).toBe(true);
  }
  const indexPath = join(out, "model.safetensors.index.json");
  if (shards.index === undefined) expect(existsSync(indexPath)).toBe(false);
  else expect(readFileSync(indexPath, "utf8")).toBe(shards.index);

  const cfg = JSON.parse(readFileSync(join(out, "config.json"), "utf8")) as Record<string, unknown>;
  expect(cfg["num_hidden_layers"]).toBe(ref.numLayers);
  if (ref.configDtype) {
    expect(cfg["torch_dtype"]).toBe(ref.configDtype);
    expect(cfg["dtype"]).toBe(ref.configDtype);
  }
  return { out, ref, shards, result };
}
