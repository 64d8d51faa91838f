// What a host provides to read models and write outputs. The core never touches a filesystem
// or the network itself: Node, Deno, Bun, Workers and browsers each implement these.

/** Random access to one file's bytes (a local file, an HTTP resource with Range, a Blob). */
export interface ByteSource {
  /** The file's size in bytes. */
  readonly size: number;
  /** Reads exactly `dest.length` bytes at `offset` into `dest` (which may be a view of wasm memory). */
  readInto(offset: number, dest: Uint8Array): Promise<void>;
}

/** A model directory: config.json, safetensors files, tokenizer files. */
export interface ModelDirectory {
  /** How the user named it (for messages and the model card). */
  readonly ref: string;
  /** Whether a file exists. */
  has(name: string): Promise<boolean>;
  /** Opens a file for random access; fails with E_MODEL_NOT_FOUND / E_IO naming the file. */
  open(name: string): Promise<ByteSource>;
  /** Reads a whole small file (JSON, tokenizer) as bytes. */
  readFile(name: string): Promise<Uint8Array>;
  /** Releases open files; the directory may be opened again afterwards. */
  close?(): Promise<void>;
}

/** Resolves a config model reference (`path`, later URLs and hub names) to a directory. */
export type ResolveModel = (ref: string) => Promise<ModelDirectory>;

/** A file being written in the output. */
export interface FileWriter {
  write(chunk: Uint8Array): Promise<void>;
  close(): Promise<void>;
}

/**
 * Where a merge's output goes. Files are written under temporary names; nothing appears under
 * its final name until `commit()`; `abort()` removes everything written so far.
 */
export interface OutputSink {
  create(name: string): Promise<FileWriter>;
  commit(): Promise<void>;
  abort(): Promise<void>;
}

/** Reads a whole ByteSource (for small files only). */
export async function readAll(src: ByteSource): Promise<Uint8Array> {
  const out = new Uint8Array(src.size);
  await src.readInto(0, out);
  return out;
}

export async function writeWhole(sink: OutputSink, name: string, data: Uint8Array | string): Promise<void> {
  const w = await sink.create(name);
  await w.write(typeof data === "string" ? new TextEncoder().encode(data) : data);
  await w.close();
}
