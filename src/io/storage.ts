// What a host provides to read models and write outputs. The core never touches a filesystem
// or the network itself: Node, Deno, Bun, Workers and browsers each implement these.

/** Random access to one file's bytes (a local file, an HTTP resource with Range, a Blob). */
export interface ByteSource {
  /** The file's size in bytes. */
  readonly size: number;
  /** Reads exactly `dest.length` bytes at `offset` into `dest` (which may be a view of wasm memory). */
  readInto(offset: number, dest: Uint8Array): Promise<void>;
  /** Identifies this version of the file (size and mtime, an ETag) where the host knows it. */
  readonly version?: string;
  /**
   * Optional: reads into wasm memory whose destination offset is congruent to the file offset
   * modulo this many bytes can skip a copy (direct I/O); callers that can place their buffers so
   * do (src/executor). Undefined when it makes no difference.
   */
  readonly readAlignment?: number;
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
  /** Canonical local path (hosts with a file system): an output inside an input is refused. */
  readonly localPath?: string;
}

/** Resolves a config model reference (`path`, later URLs and hub names) to a directory. */
export type ResolveModel = (ref: string) => Promise<ModelDirectory>;

/** A file being written in the output. */
export interface FileWriter {
  write(chunk: Uint8Array): Promise<void>;
  /**
   * Optional: writes `chunk` at byte `offset` of the file, while other writes at other offsets may
   * be in flight (a file on a local disk). A writer with it is given either `write` calls or
   * `writeAt` calls, never both; the bytes cover the file without gaps once all have settled.
   */
  writeAt?(chunk: Uint8Array, offset: number): Promise<void>;
  /**
   * Optional: memory of `bytes` for a chunk to be given to `writeAt`, suited to how this writer
   * writes (page-aligned for direct I/O). The writer may reuse it once closed.
   */
  buffer?(bytes: number): Uint8Array;
  close(): Promise<void>;
}

/**
 * Where a merge's output goes. Files are written under temporary names; nothing appears under
 * its final name until `commit()`; `abort()` removes everything written so far (a sink with a
 * `store` keeps the finished files its last progress record lists, for a resume).
 */
export interface OutputSink {
  create(name: string): Promise<FileWriter>;
  commit(): Promise<void>;
  abort(): Promise<void>;
  /** Canonical local path of the output directory (hosts with a file system). */
  readonly localPath?: string;
  /** Resumable, checked output (hosts with a file system). */
  readonly store?: OutputStore;
}

/** What a resumable sink knows about its output directory and an earlier, unfinished run. */
export interface OutputStore {
  /** Entries of the output directory besides this sink's own staging area ([] when it does not exist). */
  existing(): Promise<string[]>;
  /** The progress record an earlier run of this sink left, if any. */
  readProgress(): Promise<Uint8Array | undefined>;
  /** Durably replaces the progress record; `files` are the finished files it lists (kept on abort). */
  writeProgress(bytes: Uint8Array, files: readonly string[]): Promise<void>;
  /** A file an earlier run finished (staged, or already moved into place), for verification. */
  openFinished(name: string): Promise<ByteSource | undefined>;
  /** Makes a verified file of an earlier run part of this run's output. */
  keep(name: string): void;
  /** Removes everything an earlier run left. */
  discard(): Promise<void>;
  /** Where unfinished work is kept, for messages. */
  readonly stagingPath: string;
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
