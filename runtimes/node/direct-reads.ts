// Direct I/O for reading model files (Linux O_DIRECT). Reading a file that is not in the page cache
// through it costs the kernel a copy out of freshly filled pages, which on the bench VM cost ~1 s of
// system CPU per GB (a TinyLlama ties merge: 10.4 s of system CPU cold, 2.8 s warm); read direct,
// the disk's DMA lands in our memory and the copy is gone. A file that is in the page cache is read
// faster through it, so by default ("auto") a file is read direct only when a sample of it came from
// the disk (/proc/self/io's read_bytes grew while reading it).
//
// Direct I/O wants the memory address, the file offset and the length aligned (DIRECT_ALIGN covers
// every logical block size). A source that reads direct says so (ByteSource.readAlignment), and the
// executor widens its reads to whole aligned blocks of the file into aligned wasm memory
// (src/executor/read-placement.ts; a WebAssembly memory's bytes start on a page boundary). Only the
// end of a file that is not a multiple of the alignment goes through the page cache.
import { constants, readFileSync } from "node:fs";
import { open } from "node:fs/promises";
import type { FileHandle } from "node:fs/promises";
import { AmalgamError } from "../../src/errors.ts";
import { DIRECT_ALIGN } from "./direct-writes.ts";

/** How model files are read: direct when they look cold ("auto"), always, or never. */
export type DirectReads = "auto" | "always" | "never";

export const DIRECT_READS_ENV = "AMALGAM_DIRECT_READS";

/** Reads shorter than this go through the page cache (a direct read waits for the disk). */
export const DIRECT_READ_MIN = 256 * 1024;

export function parseDirectReads(value: string | undefined): DirectReads {
  if (value === undefined || value === "") return "auto";
  if (value === "auto" || value === "always" || value === "never") return value;
  throw new AmalgamError("E_ARGS", `${DIRECT_READS_ENV}=${value}: expected auto, always or never`);
}

/** Bytes this process has had read from storage (Linux /proc/self/io), or undefined elsewhere. */
function storageReadBytes(): number | undefined {
  try {
    const m = /read_bytes:\s*(\d+)/.exec(readFileSync("/proc/self/io", "utf8"));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

const PROBE_BYTES = 4096;
const PROBES = 3;
/** Probes run one at a time, so that one file's disk reads are not counted for another's. */
let probing: Promise<unknown> = Promise.resolve();

/**
 * Whether `fh` looks cold: at least two of three 4 KiB samples at random places came from the disk.
 * (Random: a fixed place would be in the page cache after any earlier probe, a direct read leaves
 * the rest of the file out of it.) Undefined where the platform cannot tell.
 */
export function looksCold(fh: FileHandle, size: number): Promise<boolean | undefined> {
  const run = probing.then(async () => {
    const before = storageReadBytes();
    if (before === undefined || size < 4 * PROBE_BYTES) return undefined;
    const buf = new Uint8Array(PROBE_BYTES);
    for (let i = 0; i < PROBES; i++) {
      const at = Math.floor((Math.random() * (size - PROBE_BYTES)) / DIRECT_ALIGN) * DIRECT_ALIGN;
      await fh.read(buf, 0, PROBE_BYTES, at);
    }
    const after = storageReadBytes();
    return after === undefined ? undefined : after - before >= 2 * PROBE_BYTES;
  });
  probing = run.catch(() => {});
  return run;
}

/** A second handle on a model file for direct reads, or undefined where O_DIRECT is not possible. */
export async function openDirectRead(path: string): Promise<FileHandle | undefined> {
  const flag = constants.O_DIRECT;
  if (typeof flag !== "number" || flag === 0) return undefined;
  return open(path, constants.O_RDONLY | flag | (constants.O_NOFOLLOW ?? 0)).catch(() => undefined);
}
