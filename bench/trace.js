#!/usr/bin/env node
// Is a merge waiting on the disk, the CPU, or neither? Runs one merge through the library (worker
// threads, as the CLI does) and every 250 ms samples the disk's read and write rates
// (/proc/diskstats, for the block device that holds the output directory's file system) and this
// process's CPU use (/proc/self/stat), next to the tensor and pass running then (onStreamPass,
// onProgress). Prints one line per sample, then how long the disk moved under 0.5 GB/s and the
// process used under 1.2 CPUs. Drop the page cache first for a cold trace. Linux only.
//
//   npm run build:ts && node bench/trace.js CONFIG.yml [--threads N] [--out DIR]
import { mkdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const REPO = join(dirname(fileURLToPath(import.meta.url)), "..");
const args = process.argv.slice(2);
let threads = 2;
let out = join(REPO, ".cache", "bench", "out", "trace");
let config;
for (let i = 0; i < args.length; i++) {
  if (args[i] === "--threads") threads = Number(args[++i]);
  else if (args[i] === "--out") out = args[++i];
  else if (!config && !args[i].startsWith("-")) config = args[i];
  else throw new Error(`unknown argument ${args[i]}; usage: trace.js CONFIG.yml [--threads N] [--out DIR]`);
}
if (!config || !(threads >= 1)) throw new Error("usage: trace.js CONFIG.yml [--threads N] [--out DIR]");

const { merge, parseMergeConfig } = await import(pathToFileURL(join(REPO, "dist", "src", "index.js")).href);
const { fsResolver, FsOutputSink, loadKernelModule, nodeThreadPool } = await import(pathToFileURL(join(REPO, "dist", "runtimes", "node", "index.js")).href);

// the block device of the output's file system: /proc/diskstats names it by major:minor
rmSync(out, { recursive: true, force: true });
mkdirSync(dirname(out), { recursive: true });
const dev = statSync(dirname(out)).dev;
const major = Math.floor(dev / 256) & 0xfff;
const minor = (dev & 0xff) | ((dev >> 12) & 0xfff00);
function disk() {
  for (const line of readFileSync("/proc/diskstats", "utf8").split("\n")) {
    const f = line.trim().split(/\s+/);
    // a partition's counts are its disk's too; the whole disk is what the other streams share
    if (Number(f[0]) === major && Number(f[1]) === minor) return [Number(f[5]) * 512, Number(f[9]) * 512, f[2]];
  }
  throw new Error(`trace: no /proc/diskstats line for device ${major}:${minor}`);
}
function cpuSeconds() {
  const f = readFileSync("/proc/self/stat", "utf8").split(") ")[1].split(" ");
  return (Number(f[11]) + Number(f[12])) / 100; // utime + stime, in clock ticks of 1/100 s
}
const short = (t) => t.replace(/^model\.layers\./, "L").replace(/\.weight$/, "");

const parsed = parseMergeConfig(readFileSync(config, "utf8"), config);
const t0 = performance.now();
let active = "start";
const samples = [];
const sample = () => {
  const [r, w] = disk();
  samples.push({ t: (performance.now() - t0) / 1000, r, w, cpu: cpuSeconds(), active });
};
sample();
const timer = setInterval(sample, 250);
try {
  await merge(parsed, {
    resolveModel: fsResolver(process.cwd()),
    sink: await FsOutputSink.create(out),
    kernels: await loadKernelModule(threads > 1),
    ...(threads > 1 ? { threadPool: nodeThreadPool, threadCount: threads } : {}),
    onStreamPass: (t, step) => { active = `${short(t)}:${step}`; },
    onProgress: (p) => { active = `done ${short(p.tensor)}`; },
  });
} finally {
  clearInterval(timer);
}
sample();
console.log(`device ${disk()[2]}; per 250 ms: read GB/s, write GB/s, CPUs used, what ran at the end of the sample`);
let slowDisk = 0;
let idleCpu = 0;
for (let i = 1; i < samples.length; i++) {
  const a = samples[i - 1];
  const b = samples[i];
  const dt = b.t - a.t;
  if (dt <= 0) continue;
  const rs = (b.r - a.r) / 1e9 / dt;
  const ws = (b.w - a.w) / 1e9 / dt;
  const cs = (b.cpu - a.cpu) / dt;
  if (rs + ws < 0.5) slowDisk += dt;
  if (cs < 1.2) idleCpu += dt;
  console.log(`${b.t.toFixed(2)} s  read ${rs.toFixed(2)}  write ${ws.toFixed(2)}  cpu ${cs.toFixed(2)}  ${b.active}`);
}
console.log(`${samples.at(-1).t.toFixed(2)} s in all; the disk moved under 0.5 GB/s for ${slowDisk.toFixed(2)} s, the process used under 1.2 CPUs for ${idleCpu.toFixed(2)} s`);
rmSync(out, { recursive: true, force: true });
