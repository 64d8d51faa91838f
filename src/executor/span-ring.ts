// A first-in, first-out allocator of spans in a few regions of wasm memory: the read-ahead
// (read-ahead.ts) places each upcoming tensor's kept inputs in one span, freed in the order the
// tensors run. Within a region, spans follow each other and wrap to its start; a new span goes into
// the newest span's region when it has room, else into the next region that has. Spans are
// contiguous: a tensor's kept layout (prefetch.ts keptLayout) is one block of memory.
import type { Region } from "./prefetch.ts";
import { AmalgamError } from "../errors.ts";

export class SpanRing {
  /** Live spans, oldest first, with the index of their region. */
  private readonly spans: { readonly r: number; readonly span: Region }[] = [];

  constructor(readonly regions: readonly Region[]) {}

  get empty(): boolean {
    return this.spans.length === 0;
  }

  /** The live spans, oldest first. */
  get live(): readonly Region[] {
    return this.spans.map((s) => s.span);
  }

  /** Where region r has room for `bytes`: after its newest span, or from its start before its oldest. */
  private roomIn(r: number, bytes: number): number | undefined {
    const { start, bytes: size } = this.regions[r]!;
    const mine = this.spans.filter((s) => s.r === r);
    const first = mine[0]?.span;
    const last = mine[mine.length - 1]?.span;
    if (!first || !last) return bytes <= size ? start : undefined;
    const lastEnd = last.start + last.bytes;
    if (last.start >= first.start) {
      // not wrapped: after the newest, else before the oldest
      if (lastEnd + bytes <= start + size) return lastEnd;
      return start + bytes <= first.start ? start : undefined;
    }
    return lastEnd + bytes <= first.start ? lastEnd : undefined;
  }

  /** A span of `bytes`, or undefined when no region has room for it. */
  place(bytes: number): Region | undefined {
    const n = this.regions.length;
    const from = this.spans[this.spans.length - 1]?.r ?? 0;
    for (let i = 0; i < n; i++) {
      const r = (from + i) % n;
      const at = this.roomIn(r, bytes);
      if (at === undefined) continue;
      const span = { start: at, bytes };
      this.spans.push({ r, span });
      return span;
    }
    return undefined;
  }

  /** Takes the whole of region r (it must be unused) as a span; release it like any other. */
  pin(r: number): Region {
    const region = this.regions[r]!;
    if (this.spans.some((s) => s.r === r)) throw new AmalgamError("E_KERNEL", `SpanRing.pin: region ${r} is in use`);
    const span = { start: region.start, bytes: region.bytes };
    this.spans.push({ r, span });
    return span;
  }

  /** Frees `span`, which must be the oldest in its region. */
  release(span: Region): void {
    const i = this.spans.findIndex((s) => s.span === span);
    const s = this.spans[i];
    if (!s || this.spans.findIndex((o) => o.r === s.r) !== i) throw new AmalgamError("E_KERNEL", "SpanRing.release: not the oldest span of its region");
    this.spans.splice(i, 1);
  }
}
