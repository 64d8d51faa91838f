#!/usr/bin/env node
// Is each kernel of a linear merge at the memory wall? Times the kernels a bf16 linear merge
// calls per tensor (decode, wsum K=3, div_scalar, encode) on data already in wasm memory, next
// to a memcpy of the same size (wasm memory.copy via TypedArray.copyWithin), best of N runs.
// GB/s counts the bytes each kernel reads plus writes.
//
//   npm run build && node bench/kernels.js [--n ELEMENTS] [--runs N]
import { join, dirname } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const REPO = join(dirname(fileURLToPath(import.meta.url)), "..");
const BF16 = 1;

function parseArgs(argv) {
  const o = { n: 1 << 25, runs: 5 };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--n") o.n = Number(argv[++i]);
    else if (argv[i] === "--runs") o.runs = Number(argv[++i]);
    else throw new Error(`unknown argument ${argv[i]}; usage: kernels.js [--n ELEMENTS] [--runs N]`);
  }
  return o;
}

const { n, runs } = parseArgs(process.argv.slice(2));
const { Kernels } = await import(pathToFileURL(join(REPO, "dist", "src", "index.js")).href);
const { loadKernelModule } = await import(pathToFileURL(join(REPO, "dist", "runtimes", "node", "index.js")).href);
const k = await Kernels.instantiate(await loadKernelModule());

const raw = k.alloc(2 * n);
const xs = [k.allocF32(n), k.allocF32(n), k.allocF32(n)];
const out = k.allocF32(n);
const enc = k.alloc(2 * n);
const ptrs = k.u32Array(xs.map((x) => x.ptr));
const ws = k.f32Array([0.5, 0.30078125, 0.19921875]);
// fill: bf16 bit patterns of small normal-ish values (never NaN), decoded into the three inputs
const r16 = new Uint16Array(k.memory.buffer, raw, n);
let s = 1;
for (let i = 0; i < n; i++) {
  s = (Math.imul(s, 1103515245) + 12345) >>> 0;
  r16[i] = 0x3c00 + (s >>> 22); // 2^-7 .. ~2^-6, positive
}
for (const x of xs) k.call("decode", x.ptr, raw, BF16, n);

function best(fn) {
  let b = Infinity;
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    fn();
    b = Math.min(b, performance.now() - t0);
  }
  return b / 1000;
}

const rows = [
  ["memcpy f32 (copyWithin)", 8 * n, () => new Uint8Array(k.memory.buffer).copyWithin(out.ptr, xs[0].ptr, xs[0].ptr + 4 * n)],
  ["decode bf16 -> f32", 6 * n, () => k.call("decode", xs[0].ptr, raw, BF16, n)],
  ["wsum K=3 (bf16 mode)", 16 * n, () => k.call("wsum", out.ptr, ptrs, ws, 3, n, BF16)],
  ["div_scalar (bf16 mode)", 8 * n, () => k.call("div_scalar", out.ptr, out.ptr, 1, n, BF16)],
  ["encode f32 -> bf16", 6 * n, () => k.call("encode", enc, out.ptr, BF16, n)],
];
console.log(`kernels on ${n} elements (${((4 * n) / 2 ** 20).toFixed(0)} MiB per f32 array), best of ${runs}; GB/s = (bytes read + written) / time`);
for (const [name, bytes, fn] of rows) {
  const t = best(fn);
  console.log(`  ${name.padEnd(26)} ${(t * 1000).toFixed(1).padStart(7)} ms  ${(bytes / 1e9 / t).toFixed(1).padStart(5)} GB/s`);
}
