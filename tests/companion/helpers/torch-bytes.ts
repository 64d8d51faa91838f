// Hand-built PyTorch checkpoint bytes for tests: pickle streams, torch.save-shaped zips (written by
// the fuzzer's stored-zip writer) and an in-memory ByteSource to read them from.
import { writeStoredZip } from "../../../src/fuzz/zip-writer.ts";

/** A ByteSource over bytes in memory. */
export function memorySource(bytes: Uint8Array) {
  return {
    size: bytes.length,
    async readInto(offset: number, dest: Uint8Array) {
      if (offset < 0 || offset + dest.length > bytes.length) throw new Error(`read outside ${bytes.length} bytes`);
      dest.set(bytes.subarray(offset, offset + dest.length));
    },
  };
}

/** Pickle opcodes as bytes, for hand-built streams. */
export function pickleBytes(...parts: (number | string | Uint8Array)[]): Uint8Array {
  const out: number[] = [];
  for (const p of parts) {
    if (typeof p === "number") out.push(p);
    else if (typeof p === "string") for (const c of new TextEncoder().encode(p)) out.push(c);
    else out.push(...p);
  }
  return new Uint8Array(out);
}

/** A torch.save-shaped archive around a pickle and optional storages. */
export function torchZip(pickle: Uint8Array, storages: Record<string, Uint8Array> = {}, stem = "archive"): Uint8Array {
  return writeStoredZip([
    { name: `${stem}/data.pkl`, data: pickle },
    ...Object.entries(storages).map(([k, d]) => ({ name: `${stem}/data/${k}`, data: d })),
    { name: `${stem}/version`, data: new TextEncoder().encode("3\n") },
  ]);
}
