// The progress record of a resumable merge: which output shards are finished, with their sizes
// and hashes, under a key that identifies the merge (config, options, plan layout, input files).
// A later run with the same key skips every shard whose bytes still hash the same. The last shard a
// run writes is not hashed nor recorded (src/executor/merge.ts): a run killed after it and before
// the commit merges it again.
//
// Hash: XXH3-128 (hash-wasm) over the XXH3-128 digests of consecutive 16 MiB blocks of the file
// ("xxh3-128-blocks-16m"), so shards of any size are hashed while they are written, a block at a
// time. The hash guards against a shard changed or cut short between runs, not against an
// attacker: a non-cryptographic 128-bit hash does that at ~5 GB/s, where Web Crypto's SHA-256
// (the hash before) ran at ~1.3 GB/s and, in Node, on the main thread. The resume key, over
// small data, stays SHA-256.
import { createXXHash128 } from "hash-wasm";
import type { IHasher } from "hash-wasm";
import { AmalgamError } from "../errors.ts";
import { parseBoundedJsonObject } from "../io/bounded-json.ts";
import type { ByteSource, FileWriter } from "../io/storage.ts";
import type { MergePlan } from "../plan/types.ts";

/** The progress record's name inside the sink's staging area. */
export const PROGRESS_FILE = "amalgam-progress.json";
export const PROGRESS_VERSION = 1;
export const HASH_NAME = "xxh3-128-blocks-16m";
/** Bytes of one digest (block or file). */
const DIGEST_BYTES = 16;
/** Block size of the hash: large enough that the digest of digests is negligible. */
export const HASH_BLOCK_BYTES = 16 * 1024 * 1024;
/** A progress record larger than this is not ours (it lists one entry per shard). */
const MAX_PROGRESS_BYTES = 16 * 1024 * 1024;

export interface FinishedFile {
  readonly bytes: number;
  /** HASH_NAME of the file, in hex. */
  readonly hash: string;
}

export interface ProgressRecord {
  readonly key: string;
  readonly files: ReadonlyMap<string, FinishedFile>;
  /**
   * Every file of the output, recorded just before the commit moves them into place: a run killed
   * during the commit leaves some of them in the output directory, and they are this merge's.
   */
  readonly committing?: readonly string[];
}

function hex(buf: ArrayBuffer): string {
  return [...new Uint8Array(buf)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

export async function sha256(data: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", data as Uint8Array<ArrayBuffer>));
}

let hasher: Promise<IHasher> | undefined;

/** The XXH3-128 digest of one block (the hasher is created once; each call runs to the end without yielding). */
export async function blockDigest(data: Uint8Array): Promise<Uint8Array> {
  hasher ??= createXXHash128();
  const h = await hasher;
  h.init();
  h.update(data);
  return h.digest("binary");
}

/** The file hash from its blocks' digests, in order: XXH3-128 of their concatenation, in hex. */
export async function digestOfDigests(parts: readonly Uint8Array[]): Promise<string> {
  const all = new Uint8Array(parts.length * DIGEST_BYTES);
  parts.forEach((p, i) => all.set(p, i * DIGEST_BYTES));
  return hex((await blockDigest(all)).buffer as ArrayBuffer);
}

/** Incremental hash over blocks; block digests run while later bytes arrive. */
export class BlockHasher {
  private block = new Uint8Array(HASH_BLOCK_BYTES);
  private fill = 0;
  private readonly digests: Promise<Uint8Array>[] = [];
  bytes = 0;

  update(chunk: Uint8Array): void {
    let off = 0;
    while (off < chunk.length) {
      const n = Math.min(chunk.length - off, HASH_BLOCK_BYTES - this.fill);
      this.block.set(chunk.subarray(off, off + n), this.fill);
      this.fill += n;
      off += n;
      if (this.fill === HASH_BLOCK_BYTES) this.flush();
    }
    this.bytes += chunk.length;
  }

  private flush(): void {
    const full = this.fill === HASH_BLOCK_BYTES ? this.block : this.block.slice(0, this.fill);
    this.digests.push(blockDigest(full));
    this.block = new Uint8Array(HASH_BLOCK_BYTES);
    this.fill = 0;
  }

  /** Hex digest of everything given to `update`. */
  async digest(): Promise<string> {
    if (this.fill > 0 || this.digests.length === 0) this.flush();
    return digestOfDigests(await Promise.all(this.digests));
  }
}

/** Hashes a whole file (verification of an earlier run's shard), a block at a time. */
export async function hashSource(src: ByteSource): Promise<string> {
  const h = new BlockHasher();
  const buf = new Uint8Array(Math.min(HASH_BLOCK_BYTES, Math.max(1, src.size)));
  for (let off = 0; off < src.size; off += buf.length) {
    const part = buf.subarray(0, Math.min(buf.length, src.size - off));
    await src.readInto(off, part);
    h.update(part);
  }
  return h.digest();
}

/** A writer that hashes what passes through it (BlockWriter). */
export interface HashingWriter extends FileWriter {
  /** Size and hash of everything written (after close). */
  finished(): Promise<FinishedFile>;
}

/** Everything that decides a merge's bytes, for the resume key. */
export interface ResumeKeyOptions {
  readonly outShardSize?: number;
  readonly randomSeed?: number;
  readonly fixQuirks?: boolean;
  readonly allowCrimes?: boolean;
  readonly copyTokenizer?: boolean;
  readonly writeModelCard?: boolean;
  readonly outputName?: string;
  readonly part?: { readonly index: number; readonly count: number };
}

/**
 * SHA-256 of the config text, the options that shape the output, every output shard's name and
 * header (tensor names, dtypes, shapes, offsets), and every input file's name, size and version.
 */
export async function resumeKey(plan: MergePlan, o: ResumeKeyOptions): Promise<string> {
  const enc = new TextEncoder();
  const parts: Uint8Array[] = [];
  const text = (s: string) => parts.push(enc.encode(`${s.length}:${s}\n`));
  text(`amalgam-resume-${PROGRESS_VERSION}`);
  text(plan.config.text);
  text(JSON.stringify([o.outShardSize ?? null, o.randomSeed ?? 0, o.fixQuirks ?? false, o.allowCrimes ?? false, o.copyTokenizer ?? true, o.writeModelCard ?? true, o.outputName ?? null, o.part ?? null]));
  for (const s of plan.shards) {
    text(s.file);
    parts.push(s.layout.header);
  }
  for (const m of plan.models) {
    text(m.ref.text);
    const files = new Map<string, ByteSource>();
    for (const t of m.files.tensors.values()) files.set(t.file, t.source);
    for (const [name, src] of [...files].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))) text(`${name} ${src.size} ${src.version ?? ""}`);
  }
  const total = parts.reduce((a, p) => a + p.length, 0);
  const all = new Uint8Array(total);
  let at = 0;
  for (const p of parts) { all.set(p, at); at += p.length; }
  return hex((await sha256(all)).buffer as ArrayBuffer);
}

export function serializeProgress(r: ProgressRecord): Uint8Array {
  const files: Record<string, FinishedFile> = {};
  for (const [n, f] of r.files) files[n] = { bytes: f.bytes, hash: f.hash };
  return new TextEncoder().encode(JSON.stringify({ amalgamProgress: PROGRESS_VERSION, hash: HASH_NAME, key: r.key, files, ...(r.committing ? { committing: r.committing } : {}) }, null, 2) + "\n");
}

/** Parses a progress record; a record that is not ours or not valid is an E_OUTPUT error naming it. */
export function parseProgress(bytes: Uint8Array, file: string): ProgressRecord {
  if (bytes.length > MAX_PROGRESS_BYTES) throw new AmalgamError("E_OUTPUT", `${file}: ${bytes.length} bytes, not an Amalgam progress record`);
  const v = parseBoundedJsonObject(bytes, file, "E_OUTPUT");
  const bad = (what: string) => new AmalgamError("E_OUTPUT", `${file}: not an Amalgam progress record (${what})`);
  if (v["amalgamProgress"] !== PROGRESS_VERSION || v["hash"] !== HASH_NAME) throw bad("version");
  const key = v["key"];
  if (typeof key !== "string" || !/^[0-9a-f]{64}$/.test(key)) throw bad("key");
  const f = v["files"];
  if (typeof f !== "object" || f === null || Array.isArray(f)) throw bad("files");
  const files = new Map<string, FinishedFile>();
  for (const [name, e] of Object.entries(f)) {
    if (typeof e !== "object" || e === null || Array.isArray(e)) throw bad(`files[${JSON.stringify(name)}]`);
    const bytesN = e["bytes"];
    const hash = e["hash"];
    if (typeof bytesN !== "number" || !Number.isSafeInteger(bytesN) || bytesN < 0 || typeof hash !== "string" || !/^[0-9a-f]{32}$/.test(hash)) throw bad(`files[${JSON.stringify(name)}]`);
    files.set(name, { bytes: bytesN, hash });
  }
  const c = v["committing"];
  if (c !== undefined && (!Array.isArray(c) || !c.every((n) => typeof n === "string"))) throw bad("committing");
  return { key, files, committing: c as string[] | undefined };
}
