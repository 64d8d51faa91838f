#!/usr/bin/env node
// How fast does this disk serve direct reads laid out the way a merge issues them? Reads every
// whole 4 KiB block of the given files with O_DIRECT into page-aligned memory, in chunks of
// CHUNK_MIB, INFLIGHT reads at a time: "inter" takes chunk i of every file in turn (a tiled merge
// reading tile i of each model), "seq" one file after another. Drop the page cache first for a
// cold figure (sync; echo 3 > /proc/sys/vm/drop_caches). Linux only.
//
//   node bench/read-pattern.js inter|seq CHUNK_MIB INFLIGHT FILE...
import { constants } from "node:fs";
import { open } from "node:fs/promises";

const [mode, chunkArg, inflightArg, ...files] = process.argv.slice(2);
const chunk = Number(chunkArg) * 1024 * 1024;
const inflight = Number(inflightArg);
if ((mode !== "inter" && mode !== "seq") || !(chunk >= 65536) || chunk % 65536 !== 0 || !(inflight >= 1) || files.length === 0) {
  console.error("usage: node bench/read-pattern.js inter|seq CHUNK_MIB INFLIGHT FILE...");
  process.exit(2);
}
if (!constants.O_DIRECT) {
  console.error("read-pattern: this platform has no O_DIRECT");
  process.exit(2);
}

// a WebAssembly memory's bytes start on a page boundary, as direct I/O wants
const memory = new WebAssembly.Memory({ initial: (chunk * inflight) / 65536, maximum: (chunk * inflight) / 65536 });
const handles = await Promise.all(files.map((f) => open(f, constants.O_RDONLY | constants.O_DIRECT)));
const sizes = await Promise.all(handles.map(async (h) => (await h.stat()).size));
const jobs = [];
if (mode === "inter") {
  const most = Math.max(...sizes.map((s) => Math.ceil(s / chunk)));
  for (let t = 0; t < most; t++) for (let j = 0; j < handles.length; j++) if (t * chunk < sizes[j]) jobs.push([j, t * chunk]);
} else {
  for (let j = 0; j < handles.length; j++) for (let at = 0; at < sizes[j]; at += chunk) jobs.push([j, at]);
}

let next = 0;
let bytes = 0;
const t0 = performance.now();
await Promise.all(Array.from({ length: inflight }, async (_, slot) => {
  const buf = new Uint8Array(memory.buffer, slot * chunk, chunk);
  while (next < jobs.length) {
    const [j, at] = jobs[next++];
    const n = Math.min(chunk, sizes[j] - at) & ~4095; // whole blocks only (a file's tail is skipped)
    if (n <= 0) continue;
    const { bytesRead } = await handles[j].read(buf, 0, n, at);
    bytes += bytesRead;
  }
}));
const s = (performance.now() - t0) / 1000;
await Promise.all(handles.map((h) => h.close()));
console.log(`${mode}, ${chunkArg} MiB reads, ${inflight} in flight: ${(bytes / 1e9).toFixed(2)} GB in ${s.toFixed(2)} s, ${(bytes / 1e9 / s).toFixed(2)} GB/s`);
