// Direct writes of output shards (runtimes/node/direct-writes.ts): the file's bytes are the same as
// through the page cache for any length (the unaligned last bytes go through the page cache), the
// aligned part goes direct where the file system takes O_DIRECT, a file system that refuses it at a
// write gets ordinary writes for the rest of the run, and --no-direct-writes turns it off.
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { AlignedBuffers, DIRECT_ALIGN, openDirect } from "../../runtimes/node/direct-writes.ts";
import { FsOutputSink } from "../../runtimes/node/fs-sink.ts";
import type { FsSinkOp } from "../../runtimes/node/fs-sink.ts";
import { BlockWriter } from "../../src/output/block-writer.ts";
import { HASH_BLOCK_BYTES } from "../../src/output/manifest.ts";

const root = mkdtempSync(join(tmpdir(), "amalgam-direct-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function pattern(n: number, seed: number): Uint8Array {
  const a = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
    a[i] = x & 255;
  }
  return a;
}

/** Whether `dir`'s file system takes O_DIRECT (tmpfs does not; ext4 and xfs do). */
async function takesDirect(dir: string): Promise<boolean> {
  const p = join(dir, "probe");
  const { writeFileSync } = await import("node:fs");
  writeFileSync(p, "");
  const fh = await openDirect(p);
  await fh?.close();
  rmSync(p);
  return fh !== undefined;
}

const direct = await takesDirect(root);
const tmpfs = existsSync("/dev/shm") && !(await takesDirect("/dev/shm"));

/** Writes `data` as one output file through a BlockWriter (chunks of odd sizes), returns the sink. */
async function writeThrough(out: string, data: Uint8Array, options: { directWrites?: boolean; inject?: (op: FsSinkOp, path: string) => void } = {}) {
  const sink = await FsOutputSink.create(out, options);
  const raw = await sink.create("model.safetensors");
  const w = new BlockWriter(raw, { hash: true, maxBlocks: 3 });
  let at = 0;
  for (let i = 0; at < data.length; i++) {
    const n = Math.min(data.length - at, [8, 1_000_003, 4096, 5_000_000][i % 4]!);
    await w.write(data.subarray(at, at + n));
    at += n;
  }
  await w.close();
  await sink.commit();
  return sink;
}

describe("aligned buffers", () => {
  it("are page-aligned, of the asked length, and reused once given back", () => {
    const pool = new AlignedBuffers();
    const a = pool.take(HASH_BLOCK_BYTES);
    const b = pool.take(100_000);
    expect(a.length).toBe(HASH_BLOCK_BYTES);
    expect(b.length).toBe(100_000);
    expect(pool.aligned(a) && pool.aligned(b)).toBe(true);
    expect(pool.aligned(a.subarray(DIRECT_ALIGN))).toBe(true);
    expect(pool.aligned(a.subarray(16))).toBe(false);
    expect(pool.aligned(new Uint8Array(HASH_BLOCK_BYTES))).toBe(false); // not from the pool
    pool.give([a]);
    expect(pool.take(HASH_BLOCK_BYTES) === a).toBe(true); // (not toBe: a failure would print 16 MiB)
    expect(pool.take(HASH_BLOCK_BYTES) === a).toBe(false);
  });
});

describe("direct writes of output files", () => {
  // two whole blocks, then a last block whose length is not a multiple of the alignment
  const data = pattern(2 * HASH_BLOCK_BYTES + 3 * DIRECT_ALIGN + 1234, 7);
  const alignedPart = data.length - (data.length % DIRECT_ALIGN);

  it("give the same bytes, the aligned part written direct where the file system takes it", async () => {
    const out = join(root, "direct");
    const sink = await writeThrough(out, data);
    expect(readFileSync(join(out, "model.safetensors")).equals(data)).toBe(true);
    // /tmp on the machines this runs on is ext4: direct. On tmpfs nothing can go direct.
    expect(sink.directBytes).toBe(direct ? alignedPart : 0);
  });

  it("are off with directWrites: false", async () => {
    const out = join(root, "buffered");
    const sink = await writeThrough(out, data, { directWrites: false });
    expect(readFileSync(join(out, "model.safetensors")).equals(data)).toBe(true);
    expect(sink.directBytes).toBe(0);
  });

  it("fall back to the page cache for the rest of the run when a direct write is refused", async () => {
    const out = join(root, "refused");
    let refusals = 0;
    const sink = await writeThrough(out, data, {
      inject: (op) => {
        if (op === "write-direct") {
          refusals++;
          throw Object.assign(new Error("Invalid argument"), { code: "EINVAL" });
        }
      },
    });
    expect(readFileSync(join(out, "model.safetensors")).equals(data)).toBe(true);
    expect(sink.directBytes).toBe(0);
    expect(refusals).toBe(direct ? 1 : 0); // the first refusal turns direct writes off
  });

  it.skipIf(!direct)("report other errors of a direct write as write errors", async () => {
    const out = join(root, "full");
    const e = await writeThrough(out, data, {
      inject: (op) => { if (op === "write-direct") throw Object.assign(new Error("No space"), { code: "ENOSPC" }); },
    }).catch((x: unknown) => x);
    expect((e as { code?: string }).code).toBe("E_NO_SPACE");
  });

  it.skipIf(!tmpfs)("are not tried where the file system refuses O_DIRECT at open (tmpfs before Linux 6.6)", async () => {
    const dir = mkdtempSync(join("/dev/shm", "amalgam-direct-"));
    try {
      const sink = await writeThrough(join(dir, "out"), data);
      expect(readFileSync(join(dir, "out", "model.safetensors")).equals(data)).toBe(true);
      expect(sink.directBytes).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
