// A zip of stored (uncompressed) entries, the layout torch.save writes, for the fuzzer's PyTorch
// checkpoints and for tests. CRCs are left 0 (the reader does not check them); an entry's method,
// flags, stated size and local-header offset, the end record's entry count and comment length can
// be set to anything, to build the malformed archives a safe reader must refuse.

export interface StoredZipEntry {
  readonly name: string;
  readonly data: Uint8Array;
  /** Compression method written in both headers (default 0, stored; the data is not compressed). */
  readonly method?: number;
  /** General purpose flags (default 0). */
  readonly flags?: number;
  /** The size the central directory states (default the data's length). */
  readonly size?: number;
  /** The local-header offset the central directory states (default the real one). */
  readonly localOffset?: number;
}

export interface StoredZipOptions {
  /** Added to the entry count of the end record (clamped to 0..65535). */
  readonly entriesDelta?: number;
  /** Comment length stated in the end record, followed by that many zero bytes. */
  readonly comment?: number;
}

export function writeStoredZip(entries: readonly StoredZipEntry[], options: StoredZipOptions = {}): Uint8Array {
  const enc = new TextEncoder();
  const comment = options.comment ?? 0;
  const parts: Uint8Array[] = [];
  const central: Uint8Array[] = [];
  let offset = 0;
  for (const e of entries) {
    const name = enc.encode(e.name);
    const method = e.method ?? 0;
    const flags = e.flags ?? 0;
    const lh = new Uint8Array(30 + name.length);
    const dv = new DataView(lh.buffer);
    dv.setUint32(0, 0x04034b50, true);
    dv.setUint16(4, 20, true);
    dv.setUint16(6, flags, true);
    dv.setUint16(8, method, true);
    dv.setUint32(18, e.data.length, true);
    dv.setUint32(22, e.data.length, true);
    dv.setUint16(26, name.length, true);
    lh.set(name, 30);
    const ch = new Uint8Array(46 + name.length);
    const cv = new DataView(ch.buffer);
    cv.setUint32(0, 0x02014b50, true);
    cv.setUint16(4, 20, true);
    cv.setUint16(6, 20, true);
    cv.setUint16(8, flags, true);
    cv.setUint16(10, method, true);
    cv.setUint32(20, (e.size ?? e.data.length) >>> 0, true);
    cv.setUint32(24, (e.size ?? e.data.length) >>> 0, true);
    cv.setUint16(28, name.length, true);
    cv.setUint32(42, (e.localOffset ?? offset) >>> 0, true);
    ch.set(name, 46);
    parts.push(lh, e.data);
    central.push(ch);
    offset += lh.length + e.data.length;
  }
  const cdSize = central.reduce((a, c) => a + c.length, 0);
  const eocd = new Uint8Array(22 + comment);
  const ev = new DataView(eocd.buffer);
  ev.setUint32(0, 0x06054b50, true);
  const n = Math.max(0, Math.min(0xffff, entries.length + (options.entriesDelta ?? 0)));
  ev.setUint16(8, n, true);
  ev.setUint16(10, n, true);
  ev.setUint32(12, cdSize, true);
  ev.setUint32(16, offset, true);
  ev.setUint16(20, comment, true);
  const all = [...parts, ...central, eocd];
  const out = new Uint8Array(all.reduce((a, c) => a + c.length, 0));
  let at = 0;
  for (const c of all) { out.set(c, at); at += c.length; }
  return out;
}
