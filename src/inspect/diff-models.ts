// `amalgam diff`: how far every tensor of model B is from model A — fraction of elements changed,
// L2 norm of the difference relative to A's, cosine similarity — summarised per layer. Streams:
// both tensors are read chunk by chunk into wasm memory (the next chunk's reads overlap this
// chunk's statistics) and reduced by the diff_stats kernel with float64 sums.
import { DTYPES, isDType, SAFETENSORS_ELEMENT_BYTES } from "../dtype.ts";
import { AmalgamError } from "../errors.ts";
import { DIFF_STATS_SLOTS } from "../kernels/abi-tools.ts";
import type { Kernels } from "../kernels/kernels.ts";
import type { ModelTensor } from "../io/model-files.ts";
import { numel } from "../io/safetensors-header.ts";
import { compareGroups, groupLabel, groupOf } from "./layer-groups.ts";
import type { GroupRole, TensorGroup } from "./layer-groups.ts";
import type { OpenedModel } from "./model-summary.ts";

/** Elements per chunk of one tensor in wasm memory (two chunks of each model in flight: 32 MB at f32). */
export const DIFF_CHUNK_ELEMENTS = 1 << 20;

export type DiffStatus = "compared" | "partial" | "shape-mismatch" | "not-float" | "only-a" | "only-b";

export interface DiffStats {
  /** Elements compared, and how many of them differ (NaN = NaN and -0 = +0 count as equal). */
  readonly elements: number;
  readonly changed: number;
  readonly changedFraction: number | null;
  /** ||B - A|| / ||A|| (0 when both are zero; null when only A is zero). */
  readonly relL2: number | null;
  /** <A, B> / (||A|| ||B||), null when either is zero. */
  readonly cosine: number | null;
  /** L2 norms of the compared elements (null for tensors that are not floating point). */
  readonly normA: number | null;
  readonly normB: number | null;
}

export interface TensorDiff extends DiffStats {
  readonly name: string;
  readonly role: GroupRole;
  readonly layer: number | null;
  readonly status: DiffStatus;
  readonly dtypeA: string | null;
  readonly dtypeB: string | null;
  readonly shapeA: readonly number[] | null;
  readonly shapeB: readonly number[] | null;
  /** For "partial": the leading rows both embeddings have. */
  readonly rowsCompared: number | null;
  readonly maxAbsDiff: number | null;
}

export interface GroupDiff extends DiffStats {
  /** "pre", "layer N", "post" or "all". */
  readonly group: string;
  readonly role: GroupRole | "all";
  readonly layer: number | null;
  readonly tensors: number;
}

export interface DiffReport {
  readonly a: string;
  readonly b: string;
  /** Whether every tensor is present in both with the same shape, dtype and values. */
  readonly identical: boolean;
  readonly tensors: readonly TensorDiff[];
  readonly layers: readonly GroupDiff[];
  readonly total: GroupDiff;
  readonly onlyA: readonly string[];
  readonly onlyB: readonly string[];
  /** Tensors whose shape or dtype differ. */
  readonly mismatched: readonly string[];
}

export interface DiffProgress {
  readonly tensorsDone: number;
  readonly tensorsTotal: number;
  readonly bytesDone: number;
  readonly bytesTotal: number;
  readonly tensor: string;
}

export interface DiffOptions {
  readonly kernels: Kernels;
  readonly match?: (name: string) => boolean;
  readonly chunkElements?: number;
  readonly onProgress?: (p: DiffProgress) => void;
  readonly signal?: AbortSignal;
}

interface Sums { elements: number; changed: number; dd: number; aa: number; bb: number; ab: number }

const zero = (): Sums => ({ elements: 0, changed: 0, dd: 0, aa: 0, bb: 0, ab: 0 });

function add(to: Sums, s: Sums): void {
  to.elements += s.elements; to.changed += s.changed; to.dd += s.dd; to.aa += s.aa; to.bb += s.bb; to.ab += s.ab;
}

export function statsOf(s: Sums): DiffStats {
  const relL2 = s.dd === 0 ? 0 : s.aa === 0 ? null : Math.sqrt(s.dd) / Math.sqrt(s.aa);
  const cosine = s.aa === 0 || s.bb === 0 ? null : Math.max(-1, Math.min(1, s.ab / (Math.sqrt(s.aa) * Math.sqrt(s.bb))));
  return {
    elements: s.elements,
    changed: s.changed,
    changedFraction: s.elements ? s.changed / s.elements : null,
    relL2: Number.isNaN(relL2) ? null : relL2,
    cosine: cosine === null || Number.isNaN(cosine) ? null : cosine,
    normA: Math.sqrt(s.aa),
    normB: Math.sqrt(s.bb),
  };
}

/** Elements both tensors have in common: all of them, or the leading rows of 2-D tensors with equal columns. */
function comparable(a: ModelTensor, b: ModelTensor): { n: number; rows: number | null } | undefined {
  if (a.shape.join() === b.shape.join()) return { n: numel(a.shape), rows: null };
  if (a.shape.length === 2 && b.shape.length === 2 && a.shape[1] === b.shape[1]) {
    const rows = Math.min(a.shape[0]!, b.shape[0]!);
    return { n: rows * a.shape[1]!, rows };
  }
  return undefined;
}

export async function diffModels(a: OpenedModel, b: OpenedModel, options: DiffOptions): Promise<DiffReport> {
  const k = options.kernels;
  const match = options.match ?? (() => true);
  const names = [...new Set([...a.files.tensors.keys(), ...b.files.tensors.keys()])].filter(match);
  const groupFor = (n: string): TensorGroup => groupOf(n, a.files.tensors.has(n) ? a.structure : b.structure);
  names.sort((x, y) => compareGroups(groupFor(x), groupFor(y)) || (x < y ? -1 : x > y ? 1 : 0));
  const chunk = Math.max(64, options.chunkElements ?? DIFF_CHUNK_ELEMENTS);
  const mark = k.mark();
  const slots = [0, 1].map(() => ({ a: k.alloc(chunk * 4), b: k.alloc(chunk * 4) }));
  const out = k.alloc(DIFF_STATS_SLOTS * 8);
  let bytesTotal = 0;
  for (const n of names) {
    const ta = a.files.tensors.get(n);
    const tb = b.files.tensors.get(n);
    if (ta && tb && isDType(ta.dtype) && isDType(tb.dtype)) {
      const c = comparable(ta, tb);
      if (c) bytesTotal += c.n * (DTYPES[ta.dtype].bytes + DTYPES[tb.dtype].bytes);
    }
  }
  const tensors: TensorDiff[] = [];
  const groups = new Map<string, { g: TensorGroup; sums: Sums; tensors: number }>();
  const total = zero();
  let bytesDone = 0;
  try {
    for (const [i, name] of names.entries()) {
      if (options.signal?.aborted) throw new AmalgamError("E_ABORTED", "diff aborted");
      const ta = a.files.tensors.get(name);
      const tb = b.files.tensors.get(name);
      const g = groupFor(name);
      const base = {
        name, role: g.role, layer: g.layer,
        dtypeA: ta?.dtype ?? null, dtypeB: tb?.dtype ?? null, shapeA: ta?.shape ?? null, shapeB: tb?.shape ?? null,
      };
      let status: DiffStatus;
      let sums = zero();
      let rows: number | null = null;
      let maxAbs: number | null = null;
      if (!ta) status = "only-b";
      else if (!tb) status = "only-a";
      else if (!isDType(ta.dtype) || !isDType(tb.dtype)) {
        status = "not-float";
        if (ta.dtype === tb.dtype && ta.shape.join() === tb.shape.join()) sums = await diffBytes(ta, tb, chunk * 4);
      }
      else {
        const c = comparable(ta, tb);
        if (!c) status = "shape-mismatch";
        else {
          status = c.rows === null ? "compared" : "partial";
          rows = c.rows;
          const r = await diffTensor(k, ta, tb, c.n, chunk, slots, out);
          sums = r.sums;
          maxAbs = r.max;
          bytesDone += c.n * (DTYPES[ta.dtype].bytes + DTYPES[tb.dtype].bytes);
        }
      }
      const stats = status === "not-float" ? { ...statsOf(sums), relL2: null, cosine: null, normA: null, normB: null } : statsOf(sums);
      tensors.push({ ...base, status, rowsCompared: rows, maxAbsDiff: maxAbs, ...stats });
      const key = groupLabel(g);
      const e = groups.get(key) ?? { g, sums: zero(), tensors: 0 };
      add(e.sums, sums);
      e.tensors++;
      groups.set(key, e);
      add(total, sums);
      options.onProgress?.({ tensorsDone: i + 1, tensorsTotal: names.length, bytesDone, bytesTotal, tensor: name });
    }
  } finally {
    k.release(mark);
  }
  const onlyA = tensors.filter((t) => t.status === "only-a").map((t) => t.name);
  const onlyB = tensors.filter((t) => t.status === "only-b").map((t) => t.name);
  const mismatched = tensors.filter((t) => t.dtypeA && t.dtypeB && (t.dtypeA !== t.dtypeB || t.shapeA!.join() !== t.shapeB!.join())).map((t) => t.name);
  const layers = [...groups.entries()].sort((x, y) => compareGroups(x[1].g, y[1].g)).map(([key, e]) => ({ group: key, role: e.g.role, layer: e.g.layer, tensors: e.tensors, ...statsOf(e.sums) }));
  return {
    a: a.files.dir.ref,
    b: b.files.dir.ref,
    identical: onlyA.length === 0 && onlyB.length === 0 && mismatched.length === 0 && tensors.every((t) => (t.status === "compared" || (t.status === "not-float" && t.elements === numel(t.shapeA!))) && t.changed === 0),
    tensors,
    layers,
    total: { group: "all", role: "all", layer: null, tensors: tensors.length, ...statsOf(total) },
    onlyA,
    onlyB,
    mismatched,
  };
}

/** Elements whose stored bytes differ, for tensors that are not floating point (no norms). */
async function diffBytes(ta: ModelTensor, tb: ModelTensor, chunkBytes: number): Promise<Sums> {
  const w = SAFETENSORS_ELEMENT_BYTES[ta.dtype]!;
  const step = Math.max(w, Math.floor(chunkBytes / w) * w);
  const ba = new Uint8Array(Math.min(step, ta.byteLength));
  const bb = new Uint8Array(ba.length);
  const sums = zero();
  for (let off = 0; off < ta.byteLength; off += step) {
    const len = Math.min(step, ta.byteLength - off);
    await Promise.all([ta.source.readInto(ta.offset + off, ba.subarray(0, len)), tb.source.readInto(tb.offset + off, bb.subarray(0, len))]);
    for (let i = 0; i < len; i += w) {
      for (let j = 0; j < w; j++) if (ba[i + j] !== bb[i + j]) { sums.changed++; break; }
    }
    sums.elements += len / w;
  }
  return sums;
}

/** Streams the first `n` elements of two tensors through diff_stats, double-buffered. */
async function diffTensor(
  k: Kernels, ta: ModelTensor, tb: ModelTensor, n: number, chunk: number,
  slots: readonly { a: number; b: number }[], out: number,
): Promise<{ sums: Sums; max: number | null }> {
  const da = DTYPES[ta.dtype as keyof typeof DTYPES];
  const db = DTYPES[tb.dtype as keyof typeof DTYPES];
  const read = (slot: { a: number; b: number }, off: number, len: number) => Promise.all([
    ta.source.readInto(ta.offset + off * da.bytes, k.bytes(slot.a, len * da.bytes)),
    tb.source.readInto(tb.offset + off * db.bytes, k.bytes(slot.b, len * db.bytes)),
  ]);
  const sums = zero();
  let max = 0;
  let pending: Promise<unknown> | undefined = n > 0 ? read(slots[0]!, 0, Math.min(chunk, n)) : undefined;
  try {
    for (let off = 0, s = 0; off < n; off += chunk, s ^= 1) {
      await pending;
      const len = Math.min(chunk, n - off);
      const next = off + chunk;
      pending = next < n ? read(slots[s ^ 1]!, next, Math.min(chunk, n - next)) : undefined;
      pending?.catch(() => {}); // observed by the next iteration's await
      k.call("diff_stats", slots[s]!.a, da.code, slots[s]!.b, db.code, len, out);
      const r = new Float64Array(k.memory.buffer, out, DIFF_STATS_SLOTS);
      add(sums, { elements: len, changed: r[0]!, dd: r[1]!, aa: r[2]!, bb: r[3]!, ab: r[4]! });
      max = Number.isNaN(r[5]!) || Number.isNaN(max) ? NaN : Math.max(max, r[5]!);
    }
  } finally {
    await pending?.catch(() => {});
  }
  return { sums, max: Number.isNaN(max) ? null : max };
}
