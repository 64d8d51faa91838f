// Sharded model directories: model.safetensors.index.json validated against the shards.
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { openModelFiles } from "../../src/io/model-files.ts";
import { FsModelDirectory } from "../../runtimes/node/fs-model.ts";
import { writeModel } from "../fixtures/make-model.ts";
import { tempDir } from "../helpers/run-merge.ts";

/** A 2-layer model in 7 shards; returns its directory. */
function sharded(): string {
  const dir = join(tempDir(), "m");
  writeModel(dir, { variant: "ft_dense", arch: { layers: 2 }, shardSize: 40_000 });
  return dir;
}
const SHARD1 = "model-00001-of-00007.safetensors";
const SHARD2 = "model-00002-of-00007.safetensors";
const INDEX = "model.safetensors.index.json";
const dirs: FsModelDirectory[] = [];
/** Opens a model as the planner does; its files are closed after the test (the caller's job). */
const open = (dir: string) => {
  const d = new FsModelDirectory("m", dir);
  dirs.push(d);
  return openModelFiles(d);
};
afterEach(async () => {
  for (const d of dirs.splice(0)) await d.close();
});

describe("sharded model directories", () => {
  it("reads every tensor of every shard through the index", async () => {
    const m = await open(sharded());
    expect(m.tensors.size).toBe(21);
    expect(new Set([...m.tensors.values()].map((t) => t.file)).size).toBeGreaterThan(1);
  });

  it("an index naming a shard that does not exist", async () => {
    const dir = sharded();
    rmSync(join(dir, SHARD2));
    await expect(open(dir)).rejects.toMatchObject({ code: "E_MODEL_NOT_FOUND", message: `m/${SHARD2}: cannot open (ENOENT)` });
  });

  it("an index listing a tensor its shard does not hold", async () => {
    const dir = sharded();
    writeFileSync(join(dir, INDEX), JSON.stringify({ weight_map: { "model.embed_tokens.weight": SHARD1, ghost: SHARD1 } }));
    await expect(open(dir)).rejects.toMatchObject({ code: "E_INDEX", message: `m/model.safetensors.index.json: lists "ghost" in ${SHARD1}, which does not contain it` });
  });

  it("a shard name that leaves the directory", async () => {
    const dir = sharded();
    writeFileSync(join(dir, INDEX), JSON.stringify({ weight_map: { w: "../other/model.safetensors" } }));
    await expect(open(dir)).rejects.toMatchObject({ code: "E_INDEX", message: expect.stringContaining('weight_map["w"]: shard name "../other/model.safetensors" is not a plain file name') });
  });

  it("an index without weight_map, and one that is not JSON", async () => {
    const dir = sharded();
    writeFileSync(join(dir, INDEX), JSON.stringify({ metadata: {} }));
    await expect(open(dir)).rejects.toMatchObject({ code: "E_INDEX", message: 'm/model.safetensors.index.json: "weight_map" is missing or not an object' });
    writeFileSync(join(dir, INDEX), "{not json");
    await expect(open(dir)).rejects.toMatchObject({ code: "E_MODEL_CONFIG", message: expect.stringMatching(/^m\/model\.safetensors\.index\.json: not valid JSON/) });
  });
});
