// An OutputSink over an R2 bucket: every file is a multipart upload under its final key, its parts
// sent as they fill, so a Worker holds at most two part buffers (one filling, one uploading) per open
// file, and the merge writes one file at a time. R2 shows an object
// only when its upload completes, and `commit()` completes them all (weights first, config.json
// last), so nothing appears under a final key before the merge has succeeded; `abort()` aborts the
// uploads.
import { AmalgamError } from "../../src/errors.ts";
import type { FileWriter, OutputSink } from "../../src/io/storage.ts";
import type { R2BucketLike, R2PartInfo, R2Upload } from "./r2-types.ts";

/** R2's smallest part (all parts but the last must be at least this, and all the same size). */
export const R2_MIN_PART = 5 * 1024 * 1024;
/** R2's part count limit: with the default part size a file may be up to 80 GiB. */
export const R2_MAX_PARTS = 10_000;
export const DEFAULT_PART_SIZE = 8 * 1024 * 1024;

export interface R2SinkOptions {
  /** Bytes per uploaded part (default 8 MiB, at least 5 MiB). */
  readonly partSize?: number;
  /**
   * Parts uploading while the next one fills (default 1): the merge goes on during an upload, and
   * memory is (uploadsInFlight + 1) parts per open file.
   */
  readonly uploadsInFlight?: number;
}

interface Pending {
  readonly name: string;
  /** Undefined for an empty file, which is put (not uploaded) on commit. */
  readonly upload: R2Upload | undefined;
  readonly parts: R2PartInfo[];
}

/** Weights first, then the index, then the rest, config.json last (as the filesystem sink). */
function commitRank(name: string): number {
  return name.endsWith(".safetensors") ? 0 : name === "model.safetensors.index.json" ? 1 : name === "config.json" ? 3 : 2;
}

export class R2OutputSink implements OutputSink {
  private readonly pending: Pending[] = [];
  private readonly open = new Set<R2Upload>();
  readonly partSize: number;
  readonly uploadsInFlight: number;
  private committed: string[] = [];

  /** `prefix`: the output "folder" (keys are `prefix/name`; "" for the bucket root). */
  constructor(private readonly bucket: R2BucketLike, private readonly prefix: string, options: R2SinkOptions = {}) {
    this.partSize = options.partSize ?? DEFAULT_PART_SIZE;
    this.uploadsInFlight = Math.max(0, Math.floor(options.uploadsInFlight ?? 1));
    if (!Number.isSafeInteger(this.partSize) || this.partSize < R2_MIN_PART) {
      throw new AmalgamError("E_ARGS", `R2 part size ${this.partSize}: expected an integer of at least ${R2_MIN_PART} bytes (R2's minimum)`);
    }
  }

  /** The object key of an output file. */
  key(name: string): string {
    return this.prefix ? `${this.prefix}/${name}` : name;
  }

  async create(name: string): Promise<FileWriter> {
    if (!name || name.includes("/") || name.includes("\\") || name.startsWith(".")) {
      throw new AmalgamError("E_OUTPUT", `refusing to write output file ${JSON.stringify(name)}: not a plain file name`);
    }
    return new PartWriter(this, name, this.key(name));
  }

  /** Called by a writer: starts the file's multipart upload. */
  async startUpload(key: string): Promise<R2Upload> {
    const upload = await this.bucket.createMultipartUpload(key);
    this.open.add(upload);
    return upload;
  }

  /** Called by a writer once all its parts are uploaded. */
  closed(p: Pending): void {
    this.pending.push(p);
  }

  async commit(): Promise<void> {
    const order = [...this.pending].sort((a, b) => commitRank(a.name) - commitRank(b.name));
    for (const p of order) {
      const key = this.key(p.name);
      try {
        if (p.upload) {
          await p.upload.complete(p.parts);
          this.open.delete(p.upload);
        } else {
          await this.bucket.put(key, new Uint8Array(0));
        }
      } catch (e) {
        throw new AmalgamError("E_IO", `${key}: completing the R2 upload failed: ${(e as Error).message}`, { cause: e });
      }
      this.committed.push(key);
    }
    this.pending.length = 0;
  }

  /** Aborts the uploads; objects a failed commit already completed are deleted. */
  async abort(): Promise<void> {
    const uploads = [...this.open];
    this.open.clear();
    this.pending.length = 0;
    await Promise.all(uploads.map((u) => u.abort().catch(() => {})));
    if (this.committed.length) await this.bucket.delete(this.committed).catch(() => {});
    this.committed = [];
  }
}

/**
 * One output file: bytes gather in a part buffer (grown by doubling, so small files stay small);
 * a full buffer is uploaded as the next part, with up to `uploadsInFlight` uploads running while
 * the following part fills. R2 wants every part but the last the same size: they all are.
 */
class PartWriter implements FileWriter {
  private buf: Uint8Array = new Uint8Array(0);
  private fill = 0;
  private upload: Promise<R2Upload> | undefined;
  private readonly parts: R2PartInfo[] = [];
  private readonly inflight: Promise<void>[] = [];
  private readonly spare: Uint8Array[] = [];
  private count = 0;

  constructor(private readonly sink: R2OutputSink, private readonly name: string, private readonly key: string) {}

  async write(chunk: Uint8Array): Promise<void> {
    const size = this.sink.partSize;
    let off = 0;
    while (off < chunk.length) {
      if (this.fill === this.buf.length) {
        const grown = this.spare.pop() ?? new Uint8Array(Math.min(size, Math.max(65536, this.buf.length * 2, this.fill + chunk.length - off)));
        grown.set(this.buf.subarray(0, this.fill));
        this.buf = grown;
      }
      const n = Math.min(chunk.length - off, this.buf.length - this.fill);
      this.buf.set(chunk.subarray(off, off + n), this.fill);
      this.fill += n;
      off += n;
      if (this.fill === size) await this.flush();
    }
  }

  private async flush(): Promise<void> {
    if (this.count >= R2_MAX_PARTS) throw new AmalgamError("E_OUTPUT", `${this.key}: more than ${R2_MAX_PARTS} parts of ${this.sink.partSize} bytes; raise the part size or lower the shard size`);
    const n = ++this.count;
    const data = this.buf;
    const length = this.fill;
    this.buf = new Uint8Array(0);
    this.fill = 0;
    this.upload ??= this.sink.startUpload(this.key);
    const upload = this.upload;
    const sent = (async () => {
      try {
        this.parts.push(await (await upload).uploadPart(n, data.subarray(0, length)));
      } catch (e) {
        throw new AmalgamError("E_IO", `${this.key}: R2 upload of part ${n} failed: ${(e as Error).message}`, { cause: e });
      }
      if (data.length === this.sink.partSize) this.spare.push(data);
    })();
    sent.catch(() => {}); // awaited below or in close()
    this.inflight.push(sent);
    while (this.inflight.length > this.sink.uploadsInFlight) await this.inflight.shift();
  }

  async close(): Promise<void> {
    if (this.fill > 0) await this.flush();
    while (this.inflight.length) await this.inflight.shift();
    this.parts.sort((a, b) => a.partNumber - b.partNumber);
    this.sink.closed({ name: this.name, upload: this.upload ? await this.upload : undefined, parts: this.parts });
  }
}
