#!/usr/bin/env node
// The floor a merge is compared against: read every input byte and write the output's bytes with
// plain synchronous file I/O into one reused buffer, no math, then fsync (the merge fsyncs too).
// With --direct the output is written as the merge writes it by default (amalgam merge
// --direct-writes): with O_DIRECT from page-aligned memory, the unaligned last bytes through the
// page cache.
//
//   node bench/floor.js [--direct] --out FILE --out-bytes N INPUT_FILE...
import { closeSync, constants, fstatSync, fsyncSync, openSync, readSync, writeSync } from "node:fs";

const BUF = 64 * 1024 * 1024;

function main(argv) {
  let out;
  let outBytes = 0;
  let direct = false;
  const inputs = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--direct") direct = true;
    else if (argv[i] === "--out") out = argv[++i];
    else if (argv[i] === "--out-bytes") outBytes = Number(argv[++i]);
    else inputs.push(argv[i]);
  }
  if (!out || !Number.isSafeInteger(outBytes) || outBytes < 0) throw new Error("usage: floor.js --out FILE --out-bytes N INPUT...");
  // a WebAssembly memory starts on a page boundary (direct I/O needs aligned memory)
  const buf = new Uint8Array(new WebAssembly.Memory({ initial: BUF / 65536, maximum: BUF / 65536 }).buffer);
  const t0 = performance.now();
  let read = 0;
  for (const f of inputs) {
    const fd = openSync(f, "r");
    const size = fstatSync(fd).size;
    let off = 0;
    while (off < size) {
      const n = readSync(fd, buf, 0, Math.min(BUF, size - off), off);
      if (n === 0) throw new Error(`${f}: ended early`);
      off += n;
    }
    closeSync(fd);
    read += size;
  }
  const t1 = performance.now();
  const fd = openSync(out, "w");
  let at = 0;
  if (direct) {
    const dfd = openSync(out, constants.O_WRONLY | constants.O_DIRECT);
    const aligned = outBytes - (outBytes % 4096);
    while (at < aligned) at += writeSync(dfd, buf, 0, Math.min(BUF, aligned - at), at);
    closeSync(dfd);
  }
  while (at < outBytes) at += writeSync(fd, buf, 0, Math.min(BUF, outBytes - at), at);
  const t2 = performance.now();
  fsyncSync(fd);
  closeSync(fd);
  const t3 = performance.now();
  const s = (ms) => +(ms / 1000).toFixed(3);
  process.stdout.write(JSON.stringify({ read, written: outBytes, direct, readS: s(t1 - t0), writeS: s(t2 - t1), fsyncS: s(t3 - t2) }) + "\n");
}

main(process.argv.slice(2));
