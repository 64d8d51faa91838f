// A minimal zip writer for tests: stored entries (CRC left 0, which the reader does not check),
// optionally marking an entry as compressed to test refusals.
export interface ZipInput {
  readonly name: string;
  readonly data: Uint8Array;
  readonly method?: number;
}

export function writeZip(entries: readonly ZipInput[]): Uint8Array {
  const enc = new TextEncoder();
  const locals: Uint8Array[] = [];
  const central: Uint8Array[] = [];
  let offset = 0;
  for (const e of entries) {
    const name = enc.encode(e.name);
    const lh = new Uint8Array(30 + name.length);
    const dv = new DataView(lh.buffer);
    dv.setUint32(0, 0x04034b50, true);
    dv.setUint16(4, 20, true);
    dv.setUint16(8, e.method ?? 0, true);
    dv.setUint32(18, e.data.length, true);
    dv.setUint32(22, e.data.length, true);
    dv.setUint16(26, name.length, true);
    lh.set(name, 30);
    const ch = new Uint8Array(46 + name.length);
    const cv = new DataView(ch.buffer);
    cv.setUint32(0, 0x02014b50, true);
    cv.setUint16(4, 20, true);
    cv.setUint16(6, 20, true);
    cv.setUint16(10, e.method ?? 0, true);
    cv.setUint32(20, e.data.length, true);
    cv.setUint32(24, e.data.length, true);
    cv.setUint16(28, name.length, true);
    cv.setUint32(42, offset, true);
    ch.set(name, 46);
    locals.push(lh, e.data);
    central.push(ch);
    offset += lh.length + e.data.length;
  }
  const cdSize = central.reduce((a, c) => a + c.length, 0);
  const eocd = new Uint8Array(22);
  const ev = new DataView(eocd.buffer);
  ev.setUint32(0, 0x06054b50, true);
  ev.setUint16(8, entries.length, true);
  ev.setUint16(10, entries.length, true);
  ev.setUint32(12, cdSize, true);
  ev.setUint32(16, offset, true);
  const all = [...locals, ...central, eocd];
  const out = new Uint8Array(all.reduce((a, c) => a + c.length, 0));
  let at = 0;
  for (const c of all) { out.set(c, at); at += c.length; }
  return out;
}

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
  return writeZip([
    { name: `${stem}/data.pkl`, data: pickle },
    ...Object.entries(storages).map(([k, d]) => ({ name: `${stem}/data/${k}`, data: d })),
    { name: `${stem}/version`, data: new TextEncoder().encode("3\n") },
  ]);
}
