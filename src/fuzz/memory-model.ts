// Model directories held in memory for fuzzing: no filesystem, and a name that is not a plain file
// name reaching `open`/`has`/`readFile` is reported as an escape (a plain Error, which the fuzz
// loop counts as a failure), so traversal through names from untrusted files is caught.
import { AmalgamError } from "../errors.ts";
import type { ByteSource, ModelDirectory, ResolveModel } from "../io/storage.ts";

/** Thrown when a name from an untrusted file reaches the storage layer unchecked. */
export class UnsafeNameReached extends Error {
  override readonly name = "UnsafeNameReached";
}

function checkPlain(ref: string, name: string): void {
  if (!name || name === "." || name === ".." || /[/\\:\u0000]/.test(name)) {
    throw new UnsafeNameReached(`${ref}: the storage layer was asked for ${JSON.stringify(name)}`);
  }
}

export function memorySource(bytes: Uint8Array, name: string): ByteSource {
  return {
    size: bytes.length,
    async readInto(offset: number, dest: Uint8Array): Promise<void> {
      if (!Number.isSafeInteger(offset) || offset < 0 || offset + dest.length > bytes.length) {
        throw new AmalgamError("E_IO", `${name}: read of ${dest.length} bytes at ${offset} is outside the ${bytes.length}-byte file`);
      }
      dest.set(bytes.subarray(offset, offset + dest.length));
    },
  };
}

export class MemoryModelDirectory implements ModelDirectory {
  constructor(readonly ref: string, readonly files: ReadonlyMap<string, Uint8Array>) {}

  async has(name: string): Promise<boolean> {
    checkPlain(this.ref, name);
    return this.files.has(name);
  }

  async open(name: string): Promise<ByteSource> {
    checkPlain(this.ref, name);
    const b = this.files.get(name);
    if (!b) throw new AmalgamError("E_MODEL_NOT_FOUND", `${this.ref}/${name}: not found`);
    return memorySource(b, `${this.ref}/${name}`);
  }

  async readFile(name: string): Promise<Uint8Array> {
    checkPlain(this.ref, name);
    const b = this.files.get(name);
    if (!b) throw new AmalgamError("E_MODEL_NOT_FOUND", `${this.ref}/${name}: not found`);
    return b;
  }
}

/** A resolver over named in-memory models. */
export function memoryResolver(models: ReadonlyMap<string, ReadonlyMap<string, Uint8Array>>): ResolveModel {
  return async (ref: string) => {
    const files = models.get(ref);
    if (!files) throw new AmalgamError("E_MODEL_NOT_FOUND", `model "${ref}": not found`);
    return new MemoryModelDirectory(ref, files);
  };
}
