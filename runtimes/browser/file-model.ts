// Model folders the user chose in the page (`<input webkitdirectory>` or the File System Access
// picker), as ModelDirectories over Blobs: tensors are read with `blob.slice(...)`, so a large
// checkpoint is never loaded whole.
import { AmalgamError } from "../../src/errors.ts";
import type { ByteSource, ModelDirectory, ResolveModel } from "../../src/io/storage.ts";

/** One chosen file and its path relative to what the user picked ("folder/sub/config.json"). */
export interface LocalFile {
  readonly path: string;
  readonly file: Blob;
}

/** Whole small files (JSON, tokenizer) larger than this are refused: they are read into memory. */
export const MAX_LOCAL_SIDE_FILE = 256 * 1024 * 1024;
/** Folder levels walked below a picked directory (model folders sit near the top). */
export const MAX_PICK_DEPTH = 4;

class BlobSource implements ByteSource {
  constructor(private readonly blob: Blob, private readonly name: string) {}

  get size(): number {
    return this.blob.size;
  }

  async readInto(offset: number, dest: Uint8Array): Promise<void> {
    if (dest.length === 0) return;
    if (offset < 0 || offset + dest.length > this.size) {
      throw new AmalgamError("E_IO", `${this.name}: range [${offset}, ${offset + dest.length}) is outside the ${this.size}-byte file`);
    }
    let bytes: ArrayBuffer;
    try {
      bytes = await this.blob.slice(offset, offset + dest.length).arrayBuffer();
    } catch (e) {
      throw new AmalgamError("E_IO", `${this.name}: cannot read bytes ${offset}+${dest.length} (was the file changed or removed after it was chosen?): ${(e as Error).message}`, { cause: e });
    }
    if (bytes.byteLength !== dest.length) throw new AmalgamError("E_IO", `${this.name}: read ${bytes.byteLength} of ${dest.length} bytes at ${offset}`);
    dest.set(new Uint8Array(bytes));
  }
}

export class LocalModelDirectory implements ModelDirectory {
  constructor(readonly ref: string, private readonly files: ReadonlyMap<string, Blob>) {}

  async has(name: string): Promise<boolean> {
    return this.files.has(name);
  }

  async open(name: string): Promise<ByteSource> {
    const f = this.files.get(name);
    if (!f) throw new AmalgamError("E_MODEL_NOT_FOUND", `${this.ref}/${name}: not among the chosen files`);
    return new BlobSource(f, `${this.ref}/${name}`);
  }

  async readFile(name: string): Promise<Uint8Array> {
    const src = await this.open(name);
    if (src.size > MAX_LOCAL_SIDE_FILE) throw new AmalgamError("E_IO", `${this.ref}/${name}: ${src.size} bytes, over the ${MAX_LOCAL_SIDE_FILE}-byte limit for whole files`);
    const out = new Uint8Array(src.size);
    await src.readInto(0, out);
    return out;
  }
}

function normalize(ref: string): string {
  return ref.replace(/\\/g, "/").replace(/^(\.\/)+/, "").replace(/\/+$/, "");
}

/** The chosen folders that hold a config.json (candidate models), sorted. */
export function modelFolders(files: Iterable<LocalFile>): string[] {
  const out = new Set<string>();
  for (const f of files) {
    const p = normalize(f.path);
    if (p === "config.json" || p.endsWith("/config.json")) out.add(p.slice(0, Math.max(0, p.length - "/config.json".length)));
  }
  return [...out].sort();
}

/**
 * Resolves a config's model reference to a chosen folder: the folder whose path is the reference
 * or ends with "/" + reference (so `ft_dense` and `tiny-bf16/ft_dense` both find
 * "tiny-bf16/ft_dense"). References that match no folder go to `fallback` (URLs, hub names).
 */
export function localFilesResolver(files: Iterable<LocalFile>, fallback?: ResolveModel): ResolveModel {
  const byDir = new Map<string, Map<string, Blob>>();
  for (const f of files) {
    const p = normalize(f.path);
    const cut = p.lastIndexOf("/");
    const dir = cut < 0 ? "" : p.slice(0, cut);
    let m = byDir.get(dir);
    if (!m) byDir.set(dir, (m = new Map()));
    m.set(p.slice(cut + 1), f.file);
  }
  return async (ref: string) => {
    const r = normalize(ref);
    const hits = r && !/^[a-z][a-z0-9+.-]*:\/\//i.test(r) ? [...byDir.keys()].filter((d) => d === r || d.endsWith(`/${r}`)) : [];
    if (hits.length > 1) throw new AmalgamError("E_MODEL_NOT_FOUND", `model "${ref}" matches several chosen folders (${hits.join(", ")}); write more of its path`);
    if (hits.length === 1) return new LocalModelDirectory(ref, byDir.get(hits[0]!)!);
    if (fallback) return fallback(ref);
    const known = modelFolders([...byDir].flatMap(([d, m]) => [...m.keys()].map((n) => ({ path: d ? `${d}/${n}` : n, file: m.get(n)! }))));
    throw new AmalgamError("E_MODEL_NOT_FOUND", `model "${ref}" is not among the chosen folders (${known.join(", ") || "none chosen"})`);
  };
}

/** Files of an `<input webkitdirectory>` selection, with their relative paths. */
export function filesFromInput(list: FileList | readonly File[]): LocalFile[] {
  return Array.from(list, (file) => ({ path: file.webkitRelativePath || file.name, file }));
}

interface IterableDirectoryHandle extends FileSystemDirectoryHandle {
  values(): AsyncIterable<FileSystemDirectoryHandle | FileSystemFileHandle>;
}

/** Files under a directory handle (File System Access picker), paths starting with its name. */
export async function filesFromDirectoryHandle(dir: FileSystemDirectoryHandle, prefix = dir.name, depth = MAX_PICK_DEPTH): Promise<LocalFile[]> {
  const out: LocalFile[] = [];
  for await (const h of (dir as IterableDirectoryHandle).values()) {
    const path = `${prefix}/${h.name}`;
    if (h.kind === "file") out.push({ path, file: await (h as FileSystemFileHandle).getFile() });
    else if (depth > 1 && !h.name.startsWith(".")) out.push(...(await filesFromDirectoryHandle(h as FileSystemDirectoryHandle, path, depth - 1)));
  }
  return out;
}
