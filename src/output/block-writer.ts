// Write-behind for output shards: chunks are copied into 16 MiB blocks, and a full block is hashed
// (when asked) and written while the merge goes on with the next tiles; a file that takes
// positional writes (FileWriter.writeAt) gets several blocks written at once. One copy serves both the
// hash and the write, the chunks given to `write` may be views of kernel memory that change as soon
// as it returns, and at most `maxBlocks` blocks are held, so memory stays bounded whatever the
// shard's size. Blocks are written in order, or at their offsets; the first error is thrown by the
// next `write`, or by `close`.
import type { FileWriter } from "../io/storage.ts";
import type { FinishedFile, HashingWriter } from "./manifest.ts";
import { HASH_BLOCK_BYTES, blockDigest, digestOfDigests } from "./manifest.ts";

export interface BlockWriterOptions {
  /** Hash the bytes as the progress record does (manifest.ts, HASH_NAME). */
  readonly hash: boolean;
  /** Blocks held at once (being filled, hashed or written); at least 2. */
  readonly maxBlocks: number;
}

export class BlockWriter implements HashingWriter {
  private block: Uint8Array | undefined;
  private fill = 0;
  private bytes = 0;
  /** Bytes handed to the file so far (the offset of the next block). */
  private flushed = 0;
  private held = 0;
  private readonly spare: Uint8Array[] = [];
  /** Settles when a block is released (written and hashed), for a writer waiting for one. */
  private readonly pending: Promise<void>[] = [];
  private chain: Promise<void> = Promise.resolve();
  private readonly digests: Promise<Uint8Array>[] = [];
  private failure: { error: unknown } | undefined;
  private closed = false;

  constructor(private readonly w: FileWriter, private readonly options: BlockWriterOptions) {
    if (!(options.maxBlocks >= 2)) throw new RangeError("BlockWriter: maxBlocks must be at least 2");
  }

  async write(chunk: Uint8Array): Promise<void> {
    this.check();
    let off = 0;
    while (off < chunk.length) {
      if (!this.block) this.block = await this.take();
      const n = Math.min(chunk.length - off, HASH_BLOCK_BYTES - this.fill);
      this.block.set(chunk.subarray(off, off + n), this.fill);
      this.fill += n;
      off += n;
      this.bytes += n;
      if (this.fill === HASH_BLOCK_BYTES) this.flush();
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // The hash of an empty file is the hash of one empty block, as BlockHasher computes it.
    if (this.fill > 0 || (this.bytes === 0 && this.options.hash)) this.flush();
    await Promise.all(this.pending);
    this.check();
    await this.w.close();
  }

  async finished(): Promise<FinishedFile> {
    if (!this.options.hash) throw new Error("BlockWriter: created without hashing");
    return { bytes: this.bytes, hash: await digestOfDigests(await Promise.all(this.digests)) };
  }

  private check(): void {
    if (this.failure) throw this.failure.error;
  }

  /** A free block: a spare one, a new one while fewer than maxBlocks are held, or the next released. */
  private async take(): Promise<Uint8Array> {
    for (;;) {
      const b = this.spare.pop();
      if (b) return b;
      if (this.held < this.options.maxBlocks) {
        this.held++;
        return this.w.buffer?.(HASH_BLOCK_BYTES) ?? new Uint8Array(HASH_BLOCK_BYTES);
      }
      await this.pending[0];
      this.check();
    }
  }

  private flush(): void {
    const block = this.block ?? new Uint8Array(0);
    const data = block.subarray(0, this.fill);
    this.block = undefined;
    this.fill = 0;
    const digest = this.options.hash ? blockDigest(data) : undefined;
    if (digest) this.digests.push(digest);
    // positional writes run side by side (each block's place is known); others one after another
    const at = this.flushed;
    this.flushed += data.length;
    const w = this.w;
    const written = !data.length ? this.chain : w.writeAt ? w.writeAt(data, at) : this.chain.then(() => w.write(data));
    if (!w.writeAt) this.chain = written;
    const released: Promise<void> = Promise.all([written, digest]).then(
      () => {
        if (block.length) this.spare.push(block);
      },
      (error: unknown) => {
        this.failure ??= { error };
      },
    ).finally(() => {
      this.pending.splice(this.pending.indexOf(released), 1);
    });
    this.pending.push(released);
  }
}
