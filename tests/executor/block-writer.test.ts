// The output's write-behind writer: the bytes and the hash are those of the chunks in order, for
// chunks of any size across block boundaries; the chunks may change once write() returns; no more
// than maxBlocks blocks are held however slow the file; positional writes overlap and land at their
// offsets; the first write error comes back.
import { describe, expect, it } from "vitest";
import { BlockWriter } from "../../src/output/block-writer.ts";
import { BlockHasher, HASH_BLOCK_BYTES } from "../../src/output/manifest.ts";
import type { FileWriter } from "../../src/io/storage.ts";

/** A file that records what reaches it, each write taking `delayMs`, failing at write `failAt`. */
function recorder(delayMs = 0, failAt = -1) {
  const parts: Uint8Array[] = [];
  let active = 0;
  let maxActive = 0;
  let closed = false;
  const w: FileWriter = {
    async write(chunk) {
      if (parts.length === failAt) throw Object.assign(new Error("disk full"), { code: "E_NO_SPACE" });
      active++;
      maxActive = Math.max(maxActive, active);
      const copy = chunk.slice();
      await new Promise((r) => setTimeout(r, delayMs));
      parts.push(copy);
      active--;
    },
    async close() { closed = true; },
  };
  const bytes = () => {
    const n = parts.reduce((a, p) => a + p.length, 0);
    const out = new Uint8Array(n);
    let at = 0;
    for (const p of parts) { out.set(p, at); at += p.length; }
    return out;
  };
  return { w, parts, bytes, maxActive: () => maxActive, closed: () => closed };
}

function pattern(n: number, seed: number): Uint8Array {
  const a = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; x >>>= 0; a[i] = x & 255; }
  return a;
}

describe("BlockWriter (write-behind)", () => {
  const B = HASH_BLOCK_BYTES;
  const cases: readonly (readonly number[])[] = [
    [], [0], [1], [B], [B - 1, 1], [B + 1], [3 * B + 17], [7, B - 7, B, 5], [B / 2, B / 2, B / 2, 3, B * 2 - 3],
  ];
  for (const sizes of cases) {
    it(`chunks of ${JSON.stringify(sizes.map((s) => (s % B === 0 && s ? `${s / B}B` : s)))}: same bytes and hash`, async () => {
      const r = recorder();
      const bw = new BlockWriter(r.w, { hash: true, maxBlocks: 2 });
      const ref = new BlockHasher();
      const all: Uint8Array[] = [];
      // one buffer reused for every chunk, overwritten after each write() returns
      const buf = new Uint8Array(Math.max(1, ...sizes));
      for (const [i, n] of sizes.entries()) {
        const c = pattern(n, i + 1);
        buf.set(c);
        await bw.write(buf.subarray(0, n));
        buf.fill(0xee);
        ref.update(c);
        all.push(c);
      }
      await bw.close();
      const want = new Uint8Array(all.reduce((a, c) => a + c.length, 0));
      let at = 0;
      for (const c of all) { want.set(c, at); at += c.length; }
      expect(Buffer.from(r.bytes()).equals(Buffer.from(want))).toBe(true);
      expect(r.closed()).toBe(true);
      expect(await bw.finished()).toEqual({ bytes: want.length, hash: await ref.digest() });
      // every write is a whole block but the last
      for (const p of r.parts.slice(0, -1)) expect(p.length).toBe(B);
    });
  }

  it("holds at most maxBlocks blocks and writes one at a time, in order, with a slow file", async () => {
    const r = recorder(5);
    const bw = new BlockWriter(r.w, { hash: false, maxBlocks: 3 });
    const chunk = new Uint8Array(B / 4);
    for (let i = 0; i < 40; i++) { chunk.fill(i); await bw.write(chunk); }
    await bw.close();
    expect(r.maxActive()).toBe(1);
    expect(r.parts.length).toBe(10);
    r.parts.forEach((p, i) => expect(p[0]).toBe(4 * i));
    expect((bw as unknown as { held: number }).held).toBeLessThanOrEqual(3);
  });

  it("a file with positional writes gets several blocks at once, at their offsets, slowest first or not", async () => {
    const file = new Uint8Array(10 * B + 123);
    let active = 0;
    let maxActive = 0;
    let sequential = 0;
    let closed = false;
    const w: FileWriter = {
      async write() { sequential++; },
      async writeAt(chunk, offset) {
        active++;
        maxActive = Math.max(maxActive, active);
        const copy = chunk.slice();
        // later blocks finish first now and then
        await new Promise((r) => setTimeout(r, (offset / B) % 3 === 0 ? 12 : 2));
        file.set(copy, offset);
        active--;
      },
      async close() { closed = true; },
    };
    const bw = new BlockWriter(w, { hash: true, maxBlocks: 4 });
    const want = pattern(file.length, 9);
    const ref = new BlockHasher();
    const buf = new Uint8Array(B / 3 + 7);
    for (let at = 0; at < want.length; at += buf.length) {
      const c = want.subarray(at, Math.min(want.length, at + buf.length));
      buf.set(c);
      await bw.write(buf.subarray(0, c.length));
      buf.fill(0xee);
      ref.update(c);
    }
    await bw.close();
    expect(closed).toBe(true);
    expect(sequential).toBe(0);
    expect(maxActive).toBeGreaterThan(1);
    expect(maxActive).toBeLessThanOrEqual(4);
    expect(Buffer.from(file).equals(Buffer.from(want))).toBe(true);
    expect(await bw.finished()).toEqual({ bytes: want.length, hash: await ref.digest() });
  });

  it("a failed block write is thrown by a later write or by close, and nothing after it is written", async () => {
    const r = recorder(1, 1);
    const bw = new BlockWriter(r.w, { hash: true, maxBlocks: 2 });
    const chunk = new Uint8Array(B);
    let thrown: unknown;
    try {
      for (let i = 0; i < 6; i++) await bw.write(chunk);
      await bw.close();
    } catch (e) {
      thrown = e;
    }
    expect((thrown as { code?: string }).code).toBe("E_NO_SPACE");
    expect(r.parts.length).toBe(1);
    expect(r.closed()).toBe(false);
  });
});
