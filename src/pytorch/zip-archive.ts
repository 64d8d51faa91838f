// The zip container of a torch.save checkpoint: the central directory is read once (zip64
// included) and each entry's data offset is found from its local header. Only stored (method 0)
// entries can be read by range, which is what torch.save writes. Bytes are untrusted: every
// size is bounded and every offset checked against the file size.
import { AmalgamError } from "../errors.ts";
import type { ByteSource } from "../io/storage.ts";

/** The end-of-central-directory record is 22 bytes plus a comment of at most 65535. */
const MAX_EOCD_SEARCH = 22 + 65535;
/** Central directories larger than this are refused (a 1000-tensor shard has ~100 KiB). */
export const MAX_CENTRAL_DIRECTORY_BYTES = 256 * 1024 * 1024;
/** More entries than this are refused (torch writes one per storage plus a few). */
export const MAX_ZIP_ENTRIES = 2_000_000;
/** Entry names longer than this are refused (torch's are `<stem>/data/<n>`). */
const MAX_NAME_BYTES = 4096;

const SIG_EOCD = 0x06054b50;
const SIG_ZIP64_LOCATOR = 0x07064b50;
const SIG_ZIP64_EOCD = 0x06064b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_LOCAL = 0x04034b50;

export interface ZipEntry {
  readonly name: string;
  /** 0 = stored; anything else is compressed and cannot be read by range. */
  readonly method: number;
  readonly size: number;
  readonly compressedSize: number;
  readonly localHeaderOffset: number;
  readonly encrypted: boolean;
}

export interface ZipArchive {
  readonly file: string;
  readonly source: ByteSource;
  readonly entries: ReadonlyMap<string, ZipEntry>;
}

function fail(file: string, msg: string): never {
  throw new AmalgamError("E_ZIP", `${file}: ${msg}`);
}

function u64(dv: DataView, at: number, file: string, what: string): number {
  const lo = dv.getUint32(at, true);
  const hi = dv.getUint32(at + 4, true);
  const v = hi * 2 ** 32 + lo;
  if (!Number.isSafeInteger(v)) fail(file, `${what} ${v} is too large`);
  return v;
}

async function read(src: ByteSource, offset: number, length: number, file: string, what: string): Promise<DataView> {
  if (offset < 0 || length < 0 || offset + length > src.size) fail(file, `${what} (${length} bytes at ${offset}) lies outside the ${src.size}-byte file`);
  const b = new Uint8Array(length);
  await src.readInto(offset, b);
  return new DataView(b.buffer);
}

/** True when the file starts like a zip archive (a local file header). */
export async function looksLikeZip(src: ByteSource): Promise<boolean> {
  if (src.size < 4) return false;
  const b = new Uint8Array(4);
  await src.readInto(0, b);
  return new DataView(b.buffer).getUint32(0, true) === SIG_LOCAL;
}

/** Reads the central directory of a zip archive. */
export async function openZip(file: string, src: ByteSource): Promise<ZipArchive> {
  if (src.size < 22) fail(file, `${src.size} bytes is too short for a zip archive`);
  const tailLen = Math.min(src.size, MAX_EOCD_SEARCH);
  const tailStart = src.size - tailLen;
  const tail = await read(src, tailStart, tailLen, file, "end of archive");
  let eocd = -1;
  for (let i = tailLen - 22; i >= 0; i--) {
    if (tail.getUint32(i, true) === SIG_EOCD && i + 22 + tail.getUint16(i + 20, true) === tailLen) { eocd = i; break; }
  }
  if (eocd < 0) fail(file, "no end-of-central-directory record (not a zip archive, or truncated)");
  let entries = tail.getUint16(eocd + 10, true);
  let cdSize = tail.getUint32(eocd + 12, true);
  let cdOffset = tail.getUint32(eocd + 16, true);
  if (tail.getUint16(eocd + 4, true) !== 0 || tail.getUint16(eocd + 6, true) !== 0) fail(file, "multi-disk zip archives are not supported");
  if (entries === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
    const loc = eocd - 20;
    if (loc < 0 || tail.getUint32(loc, true) !== SIG_ZIP64_LOCATOR) fail(file, "zip64 archive without a zip64 locator");
    const z64at = u64(tail, loc + 8, file, "zip64 record offset");
    const z = await read(src, z64at, 56, file, "zip64 end-of-central-directory record");
    if (z.getUint32(0, true) !== SIG_ZIP64_EOCD) fail(file, `no zip64 end-of-central-directory record at ${z64at}`);
    entries = u64(z, 32, file, "entry count");
    cdSize = u64(z, 40, file, "central directory size");
    cdOffset = u64(z, 48, file, "central directory offset");
  }
  if (entries > MAX_ZIP_ENTRIES) fail(file, `${entries} entries, over the limit of ${MAX_ZIP_ENTRIES}`);
  if (cdSize > MAX_CENTRAL_DIRECTORY_BYTES) fail(file, `central directory of ${cdSize} bytes, over the limit of ${MAX_CENTRAL_DIRECTORY_BYTES}`);
  const cd = await read(src, cdOffset, cdSize, file, "central directory");
  const bytes = new Uint8Array(cd.buffer);
  const decoder = new TextDecoder("utf-8", { fatal: true });
  const out = new Map<string, ZipEntry>();
  let p = 0;
  for (let i = 0; i < entries; i++) {
    if (p + 46 > cdSize || cd.getUint32(p, true) !== SIG_CENTRAL) fail(file, `central directory entry ${i} is malformed`);
    const flags = cd.getUint16(p + 8, true);
    const method = cd.getUint16(p + 10, true);
    let compressedSize = cd.getUint32(p + 20, true);
    let size = cd.getUint32(p + 24, true);
    const nameLen = cd.getUint16(p + 28, true);
    const extraLen = cd.getUint16(p + 30, true);
    const commentLen = cd.getUint16(p + 32, true);
    let localHeaderOffset = cd.getUint32(p + 42, true);
    const end = p + 46 + nameLen + extraLen + commentLen;
    if (end > cdSize) fail(file, `central directory entry ${i} runs past the directory`);
    if (nameLen > MAX_NAME_BYTES) fail(file, `entry ${i} has a ${nameLen}-byte name`);
    let name: string;
    try {
      name = decoder.decode(bytes.subarray(p + 46, p + 46 + nameLen));
    } catch {
      fail(file, `entry ${i} has a name that is not UTF-8`);
    }
    // zip64 extra field: the 64-bit values of the 32-bit fields that are saturated, in order.
    let e = p + 46 + nameLen;
    const extraEnd = e + extraLen;
    while (e + 4 <= extraEnd) {
      const id = cd.getUint16(e, true);
      const len = cd.getUint16(e + 2, true);
      if (e + 4 + len > extraEnd) fail(file, `entry "${name}" has a malformed extra field`);
      if (id === 0x0001) {
        let q = e + 4;
        const take = (what: string) => {
          if (q + 8 > e + 4 + len) fail(file, `entry "${name}" has a short zip64 extra field`);
          const v = u64(cd, q, file, what);
          q += 8;
          return v;
        };
        if (size === 0xffffffff) size = take("entry size");
        if (compressedSize === 0xffffffff) compressedSize = take("entry compressed size");
        if (localHeaderOffset === 0xffffffff) localHeaderOffset = take("entry offset");
      }
      e += 4 + len;
    }
    if (out.has(name)) fail(file, `entry "${name}" appears twice`);
    if (localHeaderOffset + 30 > src.size || localHeaderOffset + compressedSize > src.size) fail(file, `entry "${name}" lies outside the file`);
    out.set(name, { name, method, size, compressedSize, localHeaderOffset, encrypted: (flags & 1) !== 0 });
    p = end;
  }
  return { file, source: src, entries: out };
}

/** Absolute offset of a stored entry's data; refuses compressed or encrypted entries. */
export async function entryDataOffset(zip: ZipArchive, entry: ZipEntry): Promise<number> {
  if (entry.encrypted) fail(zip.file, `entry "${entry.name}" is encrypted`);
  if (entry.method !== 0) {
    throw new AmalgamError("E_UNSUPPORTED", `${zip.file}: entry "${entry.name}" is compressed (method ${entry.method}); only stored entries, as torch.save writes them, can be read`);
  }
  if (entry.size !== entry.compressedSize) fail(zip.file, `stored entry "${entry.name}" has size ${entry.size} but ${entry.compressedSize} stored bytes`);
  const h = await read(zip.source, entry.localHeaderOffset, 30, zip.file, `local header of "${entry.name}"`);
  if (h.getUint32(0, true) !== SIG_LOCAL) fail(zip.file, `no local header for "${entry.name}" at ${entry.localHeaderOffset}`);
  const start = entry.localHeaderOffset + 30 + h.getUint16(26, true) + h.getUint16(28, true);
  if (start + entry.size > zip.source.size) fail(zip.file, `data of "${entry.name}" runs past the end of the file`);
  return start;
}

/** Reads a whole (small) stored entry. */
export async function readEntry(zip: ZipArchive, entry: ZipEntry, limit: number): Promise<Uint8Array> {
  if (entry.size > limit) fail(zip.file, `entry "${entry.name}" is ${entry.size} bytes, over the limit of ${limit}`);
  const at = await entryDataOffset(zip, entry);
  const b = new Uint8Array(entry.size);
  await zip.source.readInto(at, b);
  return b;
}
