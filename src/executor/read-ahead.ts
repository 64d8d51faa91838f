// Reading upcoming streamed tensors' inputs as far ahead as memory allows. With worker threads the
// executor has two regions of wasm memory that can hold a tensor's kept inputs: the slot input
// buffers and the fixed cache region. A streamed tensor whose inputs are all kept between its
// passes ("kept") has them read into a span of one of the two (span-ring.ts), in the run's order and
// one tensor at a time (a few reads in flight each: prefetch.ts). The next tensor is started as
// soon as the previous one's reads are done and a region has room for it, so the disk keeps
// reading through every pass of the tensors before it, not only through the final pass of the one
// just before. A tensor's span is freed when it has been merged.
//
// A tensor that uses the slots ("slots": a tileable tensor, or a streamed one whose inputs are not
// all kept) holds both regions while it runs, and the read-ahead waits before it. When such a
// streamed tensor's final pass starts it says which region it leaves free (the cache region when it
// reads into the slots, the slots when it keeps inputs in the cache region), and the tensors after
// it are read into that one. Tensors merged whole live in the heap above both ("skip").
import type { Kernels } from "../kernels/kernels.ts";
import type { PlannedTensor } from "../plan/types.ts";
import { startPrefetch } from "./prefetch.ts";
import type { Prefetch, Region } from "./prefetch.ts";
import { SpanRing } from "./span-ring.ts";
import { AmalgamError } from "../errors.ts";

/** How a tensor of the run takes part in the read-ahead (see above). */
export type AheadKind =
  | { readonly kind: "kept"; readonly tile: number; readonly inputs: readonly number[]; readonly bytes: number }
  | { readonly kind: "slots" }
  | { readonly kind: "skip" };

/** What a tensor about to run gets: its inputs' reads, and whether they started before it began. */
export interface AheadStart {
  readonly prefetched?: Prefetch;
  readonly early: boolean;
}

export class ReadAhead {
  private readonly ring: SpanRing;
  private readonly position: Map<PlannedTensor, number>;
  private readonly kinds = new Map<PlannedTensor, AheadKind>();
  private readonly started = new Map<PlannedTensor, { prefetch: Prefetch; span: Region }>();
  /** The next tensor of the order to consider. */
  private cursor = 0;
  /** A tensor using the slots and the regions it holds; `blocking` until its final pass. */
  private held: { tensor: PlannedTensor; spans: Region[]; blocking: boolean } | undefined;
  private reading: Prefetch | undefined;
  private closed = false;

  /**
   * `order`: the tensors this run merges, in order; `kindOf` says how each takes part; `inFlight`:
   * reads at a time for one tensor.
   */
  constructor(
    private readonly k: Kernels,
    regions: readonly Region[],
    private readonly order: readonly PlannedTensor[],
    private readonly kindOf: (t: PlannedTensor) => AheadKind,
    private readonly inFlight: number,
  ) {
    this.ring = new SpanRing(regions);
    this.position = new Map(order.map((t, n) => [t, n]));
  }

  private kind(t: PlannedTensor): AheadKind {
    let c = this.kinds.get(t);
    if (!c) this.kinds.set(t, (c = this.kindOf(t)));
    return c;
  }

  /** Tensor `t` is about to run (every tensor before it has ended). */
  begin(t: PlannedTensor): AheadStart {
    const n = this.position.get(t);
    if (n === undefined || this.closed) return { early: false };
    const c = this.kind(t);
    if (c.kind === "skip") return { early: false };
    if (c.kind === "slots") {
      // nothing after t was read ahead: the read-ahead stops before such a tensor
      this.held = { tensor: t, spans: this.ring.regions.map((_, r) => this.ring.pin(r)), blocking: true };
      this.cursor = n + 1;
      return { early: false };
    }
    const s = this.started.get(t);
    if (s) {
      this.pump();
      return { prefetched: s.prefetch, early: true };
    }
    // not reached yet, so nothing after it was either: both regions are empty and one takes it
    this.cursor = n;
    const p = this.start(t, c);
    if (!p) throw new AmalgamError("E_KERNEL", `read-ahead: no room for tensor "${t.name}" in empty regions`);
    return { prefetched: p, early: false };
  }

  /**
   * Tensor `t`'s final pass starts, leaving region `free` unused: if `t` holds the regions, it keeps
   * only the others, and the read-ahead goes on into `free`.
   */
  finalPass(t: PlannedTensor, free: Region): void {
    const h = this.held;
    if (!h || h.tensor !== t || !h.blocking) return;
    const r = this.ring.regions.findIndex((g) => g.start === free.start && g.bytes === free.bytes);
    if (r < 0) return;
    this.ring.release(h.spans[r]!);
    this.held = { tensor: t, spans: h.spans.filter((_, i) => i !== r), blocking: false };
    this.pump();
  }

  /** Tensor `t` has been merged (or failed to): its span is freed once its reads are done. */
  async end(t: PlannedTensor): Promise<void> {
    const s = this.started.get(t);
    if (s) {
      await s.prefetch.done;
      this.started.delete(t);
      this.ring.release(s.span);
    }
    if (this.held?.tensor === t) {
      for (const span of this.held.spans) this.ring.release(span);
      this.held = undefined;
    }
    this.pump();
  }

  /** Starts nothing more and waits for every read started (the merge is ending, maybe failed). */
  async settle(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.started.values()].map((s) => s.prefetch.done));
  }

  /** Starts the next tensor's reads when none are running and a region has room. */
  private pump(): void {
    while (!this.closed && !this.reading && !this.held?.blocking && this.cursor < this.order.length) {
      const u = this.order[this.cursor]!;
      const c = this.kind(u);
      if (c.kind === "skip" || this.started.has(u)) {
        this.cursor++;
        continue;
      }
      if (c.kind === "slots" || !this.start(u, c)) return;
    }
  }

  private start(u: PlannedTensor, c: AheadKind & { kind: "kept" }): Prefetch | undefined {
    const span = this.ring.place(c.bytes);
    if (!span) return undefined;
    const p = startPrefetch(this.k, u, c.tile, c.inputs, span, this.inFlight);
    if (!p) throw new AmalgamError("E_KERNEL", `read-ahead: tensor "${u.name}" does not fit its ${c.bytes}-byte span`);
    this.started.set(u, { prefetch: p, span });
    this.cursor++;
    this.reading = p;
    void p.done.then(() => {
      if (this.reading === p) this.reading = undefined;
      this.pump();
    });
    return p;
  }
}
