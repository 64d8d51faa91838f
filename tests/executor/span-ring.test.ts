// The read-ahead's allocator (src/executor/span-ring.ts): spans follow each other in a region and
// wrap to its start, go to the next region when the newest one's has no room, are freed oldest
// first, and never overlap a live span.
import { describe, expect, it } from "vitest";
import { SpanRing } from "../../src/executor/span-ring.ts";
import type { Region } from "../../src/executor/prefetch.ts";

const overlaps = (a: Region, b: Region) => a.start < b.start + b.bytes && b.start < a.start + a.bytes;

describe("SpanRing", () => {
  it("places spans one after another, wraps to the start once the oldest is freed, and refuses what does not fit", () => {
    const ring = new SpanRing([{ start: 1000, bytes: 100 }]);
    const a = ring.place(40)!;
    const b = ring.place(40)!;
    expect([a.start, b.start]).toEqual([1000, 1040]);
    expect(ring.place(30)).toBeUndefined(); // 20 left at the end, none before the oldest
    ring.release(a);
    const c = ring.place(30)!;
    expect(c.start).toBe(1000); // wrapped: before b
    expect(ring.place(15)).toBeUndefined(); // 10 left between c and b, 20 at the end is behind c
    const d = ring.place(10)!;
    expect(d.start).toBe(1030);
    expect(() => ring.release(c)).toThrow(/oldest/);
    ring.release(b);
    ring.release(c);
    ring.release(d);
    expect(ring.empty).toBe(true);
    expect(ring.place(101)).toBeUndefined();
    expect(ring.place(100)!.start).toBe(1000);
  });

  it("goes to the next region when the newest span's region has no room, and stays there", () => {
    const ring = new SpanRing([{ start: 0, bytes: 100 }, { start: 200, bytes: 90 }]);
    const a = ring.place(60)!;
    const b = ring.place(60)!;
    expect([a.start, b.start]).toEqual([0, 200]);
    const c = ring.place(20)!;
    expect(c.start).toBe(260); // after the newest span, in its region
    expect(ring.place(50)).toBeUndefined();
    ring.release(a);
    const d = ring.place(50)!;
    expect(d.start).toBe(0);
    // the oldest of each region is freed first: b (region 1) may go before d (region 0)
    ring.release(b);
    expect(() => ring.release(d)).not.toThrow();
    expect(ring.live).toEqual([c]);
  });

  it("pins whole regions for a tensor that uses them, and places around the pins", () => {
    const ring = new SpanRing([{ start: 0, bytes: 100 }, { start: 100, bytes: 50 }]);
    const p0 = ring.pin(0);
    const p1 = ring.pin(1);
    expect(ring.place(1)).toBeUndefined();
    expect(() => ring.pin(0)).toThrow(/in use/);
    ring.release(p1); // the region the tensor's final pass leaves free
    const a = ring.place(50)!;
    expect(a.start).toBe(100);
    expect(ring.place(1)).toBeUndefined();
    ring.release(p0);
    expect(ring.place(100)!.start).toBe(0);
  });

  it("random sizes and frees: live spans stay inside their regions and never overlap", () => {
    let s = 12345;
    const rnd = (n: number) => { s = (Math.imul(s, 1103515245) + 12345) >>> 0; return s % n; };
    const regions = [{ start: 4096, bytes: 5000 }, { start: 20000, bytes: 3000 }];
    const ring = new SpanRing(regions);
    const live: Region[] = [];
    let placed = 0;
    const bad: string[] = [];
    for (let step = 0; step < 5000; step++) {
      if (live.length && rnd(3) === 0) ring.release(live.shift()!);
      else {
        const span = ring.place(1 + rnd(2500));
        if (span) { live.push(span); placed++; }
      }
      if (ring.live.length !== live.length || ring.live.some((x, i) => x !== live[i])) bad.push(`step ${step}: live spans differ`);
      for (const x of live) {
        if (!regions.some((r) => x.start >= r.start && x.start + x.bytes <= r.start + r.bytes)) bad.push(`step ${step}: ${JSON.stringify(x)} outside`);
        for (const y of live) if (x !== y && overlaps(x, y)) bad.push(`step ${step}: ${JSON.stringify(x)} overlaps ${JSON.stringify(y)}`);
      }
    }
    expect(bad).toEqual([]);
    expect(placed).toBeGreaterThan(1000);
  });
});
