#!/usr/bin/env node
// Where the time of a merge goes (warm page cache), two ways:
//  1. I/O timers: the merge runs in this process through the public API with its reads, writes
//     and fsyncs wrapped in timers. Reads overlap the compute (the executor reads tile i+1 while
//     tile i merges), so their summed time is not a share of the wall time; writes are awaited in
//     order and are;
//  2. `node --cpu-prof` of `amalgam merge` in a child, per thread (main + workers), as the top
//     functions by self time, with the wasm kernels named from the module's export section.
//     On the main thread "(idle)" is time spent waiting for file I/O (libuv's pool) or workers.
//
//   npm run build && node bench/profile.js [--method linear|ties] [--threads N] [--scale N] [--top N]
import { spawnSync } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { METHOD_MODELS, METHOD_YAML } from "./configs.js";
import { BENCH_ROOT, ensureModels } from "./make-models.js";
import { syncDisks, warmFiles } from "./measure.js";

const REPO = join(dirname(fileURLToPath(import.meta.url)), "..");

function parseArgs(argv) {
  const o = { method: "linear", threads: 1, scale: 1, top: 12 };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--method") o.method = argv[++i];
    else if (argv[i] === "--threads") o.threads = Number(argv[++i]);
    else if (argv[i] === "--scale") o.scale = Number(argv[++i]);
    else if (argv[i] === "--top") o.top = Number(argv[++i]);
    else throw new Error(`unknown argument ${argv[i]}; usage: profile.js [--method linear|ties] [--threads N] [--scale N] [--top N]`);
  }
  if (!METHOD_YAML[o.method]) throw new Error(`--method: expected one of ${Object.keys(METHOD_YAML).join(", ")}`);
  return o;
}

const timer = () => ({ ms: 0, calls: 0, bytes: 0 });
const add = (t, ms, bytes = 0) => {
  t.ms += ms;
  t.calls++;
  t.bytes += bytes;
};

async function ioTimers(yaml, outDir, threads) {
  const dist = (p) => import(pathToFileURL(join(REPO, "dist", p)).href);
  const { merge } = await dist("src/index.js");
  const { fsResolver, FsOutputSink, loadKernelModule, nodeThreadPool } = await dist("runtimes/node/index.js");
  const read = timer();
  const write = timer();
  const close = timer();
  const resolve = fsResolver(REPO);
  const resolveModel = async (ref) => {
    const dir = await resolve(ref);
    // forward everything (close included), wrapping only open()'s byte sources
    return new Proxy(dir, {
      get(target, prop) {
        if (prop === "open") {
          return async (n) => {
            const src = await target.open(n);
            return {
              size: src.size,
              async readInto(offset, dest) {
                const t0 = performance.now();
                await src.readInto(offset, dest);
                add(read, performance.now() - t0, dest.length);
              },
            };
          };
        }
        const v = target[prop];
        return typeof v === "function" ? v.bind(target) : v;
      },
    });
  };
  const inner = await FsOutputSink.create(outDir);
  const sink = {
    commit: () => inner.commit(), abort: () => inner.abort(),
    async create(name) {
      const w = await inner.create(name);
      return {
        async write(chunk) {
          const t0 = performance.now();
          await w.write(chunk);
          add(write, performance.now() - t0, chunk.length);
        },
        async close() {
          const t0 = performance.now();
          await w.close();
          add(close, performance.now() - t0);
        },
      };
    },
  };
  const module = await loadKernelModule(threads > 1);
  const t0 = performance.now();
  const r = await merge(yaml, {
    resolveModel, sink, kernels: module, outputName: "profile",
    ...(threads > 1 ? { threadPool: nodeThreadPool, threadCount: threads } : {}),
  });
  return { wallMs: performance.now() - t0, read, write, close, threads: r.threads, peakKernelBytes: r.peakKernelBytes };
}

/** Function index -> export name, from the module's import and export sections. */
function wasmExportNames(bytes) {
  let p = 8;
  const leb = () => {
    let r = 0;
    let shift = 0;
    for (;;) {
      const b = bytes[p++];
      r += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return r;
      shift += 7;
    }
  };
  const name = () => {
    const n = leb();
    const t = Buffer.from(bytes.subarray(p, p + n)).toString("utf8");
    p += n;
    return t;
  };
  const limits = () => {
    const flags = bytes[p++];
    leb();
    if (flags & 1) leb();
  };
  const names = new Map();
  let importedFuncs = 0;
  while (p < bytes.length) {
    const id = bytes[p++];
    const size = leb();
    const end = p + size;
    if (id === 2) {
      for (let n = leb(); n > 0; n--) {
        name();
        name();
        const kind = bytes[p++];
        if (kind === 0) {
          leb();
          importedFuncs++;
        } else if (kind === 1) {
          p++;
          limits();
        } else if (kind === 2) limits();
        else p += 2;
      }
    } else if (id === 7) {
      for (let n = leb(); n > 0; n--) {
        const nm = name();
        const kind = bytes[p++];
        const idx = leb();
        if (kind === 0) names.set(idx, nm);
      }
    }
    p = end;
  }
  return { names, importedFuncs };
}

function summarizeProfile(file, wasmNames, top) {
  const prof = JSON.parse(readFileSync(file, "utf8"));
  // self time per node = the time deltas of the samples that hit it
  const dt = new Map();
  for (let i = 0; i < prof.samples.length; i++) dt.set(prof.samples[i], (dt.get(prof.samples[i]) ?? 0) + (prof.timeDeltas[i + 1] ?? 0));
  const byFn = new Map();
  let total = 0;
  for (const n of prof.nodes) {
    const ms = (dt.get(n.id) ?? 0) / 1000;
    total += ms;
    const cf = n.callFrame;
    const wf = /^wasm-function\[(\d+)\]$/.exec(cf.functionName);
    const where = cf.url ? `${cf.url.replace(pathToFileURL(REPO).href + "/", "")}:${cf.lineNumber + 1}` : "";
    const key = wf ? (wasmNames.has(Number(wf[1])) ? `wasm ${wasmNames.get(Number(wf[1]))} (kernel)` : `wasm internal function #${wf[1]} (called by a kernel)`) : `${cf.functionName || "(anonymous)"} ${where}`.trim();
    byFn.set(key, (byFn.get(key) ?? 0) + ms);
  }
  const rows = [...byFn].map(([fn, ms]) => ({ fn, ms, pct: (100 * ms) / total })).sort((a, b) => b.ms - a.ms).slice(0, top);
  return { file, totalMs: total, top: rows };
}

function cpuProfiles(configPath, outDir, profDir, threads, top) {
  const { names: wasmNames } = wasmExportNames(readFileSync(join(REPO, "build", threads > 1 ? "amalgam-mt.wasm" : "amalgam.wasm")));
  rmSync(profDir, { recursive: true, force: true });
  mkdirSync(profDir, { recursive: true });
  const t0 = performance.now();
  const r = spawnSync(process.execPath, ["--cpu-prof", `--cpu-prof-dir=${profDir}`, join(REPO, "bin", "amalgam.js"), "merge", configPath, outDir, "--quiet", "--threads", String(threads)], { cwd: REPO, encoding: "utf8" });
  const wallMs = performance.now() - t0;
  if (r.status !== 0) throw new Error(`amalgam merge failed:\n${r.stderr}`);
  // one profile per thread; the main thread's is the one started first (lowest thread id last part)
  const files = readdirSync(profDir).filter((f) => f.endsWith(".cpuprofile")).sort();
  return { wallMs, threads: files.map((f) => summarizeProfile(join(profDir, f), wasmNames, top)) };
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const set = ensureModels({ scale: o.scale, variants: METHOD_MODELS[o.method], log: (m) => console.error(m) });
  const yaml = METHOD_YAML[o.method](set.dirs);
  const work = join(BENCH_ROOT, "profile");
  mkdirSync(work, { recursive: true });
  const configPath = join(work, `${o.method}-x${o.scale}.yml`);
  writeFileSync(configPath, yaml);
  warmFiles(METHOD_MODELS[o.method].flatMap((v) => set.layout.files.map((f) => join(set.dirs[v], f.name))));

  const out = join(work, "out");
  rmSync(out, { recursive: true, force: true });
  syncDisks();
  const p = await ioTimers(yaml, out, o.threads);
  rmSync(out, { recursive: true, force: true });
  const s = (ms) => `${(ms / 1000).toFixed(2)} s`;
  const pct = (ms) => `${((100 * ms) / p.wallMs).toFixed(0)}%`;
  const gbps = (t) => (t.bytes / 1e9 / (t.ms / 1000)).toFixed(2);
  console.log(`${o.method}, x${o.scale}, warm cache, in-process, ${p.threads} thread(s): ${s(p.wallMs)}; peak wasm memory ${(p.peakKernelBytes / 2 ** 20).toFixed(0)} MiB`);
  console.log(`  reads   ${s(p.read.ms)} summed over ${p.read.calls} calls (${(p.read.bytes / 1e9).toFixed(2)} GB, ${gbps(p.read)} GB/s per call; they overlap the compute)`);
  console.log(`  writes  ${s(p.write.ms)} ${pct(p.write.ms)} awaited, ${p.write.calls} calls, ${(p.write.bytes / 1e9).toFixed(2)} GB at ${gbps(p.write)} GB/s`);
  console.log(`  fsync   ${s(p.close.ms)} ${pct(p.close.ms)} (closing ${p.close.calls} files)`);

  syncDisks();
  const c = cpuProfiles(configPath, out, join(work, "cpuprof"), o.threads, o.top);
  rmSync(out, { recursive: true, force: true });
  console.log(`\nnode --cpu-prof, amalgam merge --threads ${o.threads}: ${s(c.wallMs)} wall`);
  for (const t of c.threads) {
    console.log(`  ${t.file.split("/").at(-1)}: ${s(t.totalMs)} sampled; top ${o.top} by self time`);
    for (const r of t.top) console.log(`    ${r.pct.toFixed(1).padStart(5)}%  ${s(r.ms).padStart(8)}  ${r.fn}`);
  }
  writeFileSync(join(work, `profile-${o.method}.json`), JSON.stringify({ options: o, io: p, cpuProfile: c }, null, 2) + "\n");
}

main().catch((e) => {
  console.error(`profile: ${e.stack ?? e.message}`);
  process.exit(1);
});
