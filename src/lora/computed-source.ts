// A ByteSource whose bytes are computed on first read (a LoRA-adapted weight, a noised MoE
// expert). Consumers read a tensor once, whole or tile by tile, so the bytes are dropped as soon
// as every byte has been read; a later read computes them again (computations are deterministic).
import { AmalgamError } from "../errors.ts";
import type { ByteSource } from "../io/storage.ts";

export class ComputedSource implements ByteSource {
  private bytes: Promise<Uint8Array> | undefined;
  private read = 0;

  constructor(readonly size: number, private readonly what: string, private readonly compute: () => Promise<Uint8Array>) {}

  async readInto(offset: number, dest: Uint8Array): Promise<void> {
    if (offset < 0 || offset + dest.length > this.size) throw new AmalgamError("E_IO", `read of ${dest.length} bytes at ${offset} is outside the ${this.size} bytes of ${this.what}`);
    this.bytes ??= this.compute();
    const p = this.bytes;
    const b = await p;
    if (b.length !== this.size) throw new AmalgamError("E_IO", `${this.what}: computed ${b.length} bytes, expected ${this.size}`);
    dest.set(b.subarray(offset, offset + dest.length));
    this.read += dest.length;
    if (this.read >= this.size && this.bytes === p) {
      this.bytes = undefined;
      this.read = 0;
    }
  }
}
