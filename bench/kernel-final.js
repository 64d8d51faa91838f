#!/usr/bin/env node
// Is the fused final step of a bf16 ties merge (gta_final_bf16) faster than the composition it
// replaces? Times, in one process on the same data, the streamed final pass over a TinyLlama-sized
// tensor set in chunks of 16384: per chunk decode(base), per task vector decode (kept task vectors)
// or task_vector_stored (raw weights), rank_mask_apply (densities 0.5 / 0.7 / 0.3), gta_combine
// (consensus + normalize, weights 0.5 / 0.3 / 0.2), encode — against one gta_final_bf16 call per
// chunk. Runs alternate; prints each variant's median and the ratio, and checks equal outputs.
//
//   npm run build && node bench/kernel-final.js [--n ELEMENTS] [--runs N] [--raw]
import { join, dirname } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const REPO = join(dirname(fileURLToPath(import.meta.url)), "..");
const BF16 = 1;
const CHUNK = 16384;
const SEL_LO = 1;
const SEL_WORDS = 7;
const GTA_CONSENSUS = 1;
const GTA_NORMALIZE = 2;

function parseArgs(argv) {
  const o = { n: 11_500_000, runs: 11, raw: false };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--n") o.n = Number(argv[++i]);
    else if (argv[i] === "--runs") o.runs = Number(argv[++i]);
    else if (argv[i] === "--raw") o.raw = true;
    else throw new Error(`unknown argument ${argv[i]}; usage: kernel-final.js [--n ELEMENTS] [--runs N] [--raw]`);
  }
  return o;
}

const { n, runs, raw } = parseArgs(process.argv.slice(2));
const { Kernels } = await import(pathToFileURL(join(REPO, "dist", "src", "index.js")).href);
const { loadKernelModule } = await import(pathToFileURL(join(REPO, "dist", "runtimes", "node", "index.js")).href);
const k = await Kernels.instantiate(await loadKernelModule());

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
const bf16 = (x) => {
  f32[0] = x;
  const b = u32[0];
  return ((b + 0x7fff + ((b >>> 16) & 1)) >>> 16) & 0xffff;
};
const value = (h) => {
  u32[0] = h << 16;
  return f32[0];
};

// A normal-ish generator: weights ~ N(0, 0.02), fine-tune changes ~ N(0, 0.001), 10% unchanged.
let seed = 12345;
const uniform = () => {
  seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
  return (seed + 0.5) / 2 ** 32;
};
const gauss = () => Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());

const K = 3;
const densities = [0.5, 0.7, 0.3];
const ws = [0.5, 0.3, 0.2].map((w) => value(bf16(w)));
const baseP = k.alloc(2 * n);
const base16 = new Uint16Array(k.memory.buffer, baseP, n);
for (let i = 0; i < n; i++) base16[i] = bf16(0.02 * gauss());
const weightsP = [];
const tvsP = [];
const sel = [];
for (let m = 0; m < K; m++) {
  const wp = k.alloc(2 * n);
  const w16 = new Uint16Array(k.memory.buffer, wp, n);
  const b16 = new Uint16Array(k.memory.buffer, baseP, n);
  for (let i = 0; i < n; i++) w16[i] = uniform() < 0.1 ? b16[i] : bf16(value(b16[i]) + 0.001 * gauss());
  const tp = k.alloc(2 * n);
  const chunk = k.allocF32(CHUNK);
  const b = k.allocF32(CHUNK);
  for (let c = 0; c < n; c += CHUNK) {
    const len = Math.min(CHUNK, n - c);
    k.call("decode", b.ptr, baseP + 2 * c, BF16, len);
    k.call("task_vector_stored", chunk.ptr, wp + 2 * c, BF16, b.ptr, len, BF16);
    k.call("encode", tp + 2 * c, chunk.ptr, BF16, len);
  }
  // top-density selection by |task vector| (bf16: one key per high bin): ranks [lo, n) kept
  const hist = new Uint32Array(32768);
  const t16 = new Uint16Array(k.memory.buffer, tp, n);
  for (let i = 0; i < n; i++) hist[t16[i] & 0x7fff]++;
  const lo = n - Math.round(densities[m] * n);
  let cum = 0;
  let bin = 0;
  while (cum + hist[bin] <= lo) cum += hist[bin++];
  sel.push([SEL_LO, bin << 16, 0, lo - cum, 0xffffffff, 0, 0]);
  weightsP.push(wp);
  tvsP.push(tp);
}
let div = 0;
for (const w of ws) div = Math.fround(div + w);
div = value(bf16(div));
const flags = GTA_CONSENSUS | GTA_NORMALIZE;
const inputs = raw ? weightsP : tvsP;

const selP = k.u32Array(sel.flat());
const countsP = k.u32Array(new Array(K * 2).fill(0));
const wsP = k.f32Array(ws);
const rankedP = k.u32Array(new Array(K).fill(1));
const outOld = k.alloc(2 * n);
const outNew = k.alloc(2 * n);
const bufB = k.allocF32(CHUNK);
const bufs = Array.from({ length: K }, () => k.allocF32(CHUNK));
const bufPtrs = k.u32Array(bufs.map((b) => b.ptr));
const chunkPtrs = k.alloc(4 * K);
// views last: an allocation that grows the memory detaches the ones made before it
const counts = new Uint32Array(k.memory.buffer, countsP, K * 2);
const ptrs = new Uint32Array(k.memory.buffer, chunkPtrs, K);

function composition() {
  counts.fill(0);
  for (let c = 0; c < n; c += CHUNK) {
    const len = Math.min(CHUNK, n - c);
    k.call("decode", bufB.ptr, baseP + 2 * c, BF16, len);
    for (let m = 0; m < K; m++) {
      if (raw) k.call("task_vector_stored", bufs[m].ptr, inputs[m] + 2 * c, BF16, bufB.ptr, len, BF16);
      else k.call("decode", bufs[m].ptr, inputs[m] + 2 * c, BF16, len);
      k.call("rank_mask_apply", bufs[m].ptr, bufs[m].ptr, len, selP + m * SEL_WORDS * 4, countsP + m * 8);
    }
    k.call("gta_combine", bufB.ptr, bufB.ptr, bufPtrs, wsP, K, len, BF16, flags, div, 1);
    k.call("encode", outOld + 2 * c, bufB.ptr, BF16, len);
  }
}

function fused() {
  counts.fill(0);
  for (let c = 0; c < n; c += CHUNK) {
    const len = Math.min(CHUNK, n - c);
    for (let m = 0; m < K; m++) ptrs[m] = inputs[m] + 2 * c;
    k.call("gta_final_bf16", outNew + 2 * c, baseP + 2 * c, chunkPtrs, raw ? 1 : 0, wsP, K, len, rankedP, selP, countsP, flags, div, 1);
  }
}

const times = { composition: [], fused: [] };
for (let r = 0; r < runs; r++) {
  for (const [name, fn] of [["composition", composition], ["fused", fused]]) {
    const t0 = performance.now();
    fn();
    times[name].push(performance.now() - t0);
  }
}
const a = new Uint16Array(k.memory.buffer, outOld, n);
const b = new Uint16Array(k.memory.buffer, outNew, n);
const diff = a.findIndex((h, i) => h !== b[i]);
if (diff >= 0) throw new Error(`outputs differ at element ${diff}: ${a[diff].toString(16)} vs ${b[diff].toString(16)}`);
const median = (xs) => [...xs].sort((x, y) => x - y)[xs.length >> 1];
const mOld = median(times.composition);
const mNew = median(times.fused);
console.log(`final step, ${n} elements, K=${K}, ${raw ? "raw weights" : "kept task vectors"}, chunks of ${CHUNK}, ${runs} runs each (alternating)`);
console.log(`  composition  median ${mOld.toFixed(1)} ms  (${times.composition.map((t) => t.toFixed(0)).join(" ")})`);
console.log(`  fused        median ${mNew.toFixed(1)} ms  (${times.fused.map((t) => t.toFixed(0)).join(" ")})`);
const min = (xs) => Math.min(...xs);
console.log(`  ratio composition / fused: median ${(mOld / mNew).toFixed(2)}x, best ${(min(times.composition) / min(times.fused)).toFixed(2)}x; outputs identical`);
