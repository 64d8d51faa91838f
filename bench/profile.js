#!/usr/bin/env node
// Where the time of a linear merge goes (warm page cache), two ways:
//  1. phases: the merge runs in this process through the public API, with the file reads, writes,
//     fsyncs and kernel calls wrapped in timers (the executor awaits each in turn, so they add up
//     to the wall time; the rest is JS in the executor and methods, e.g. copies in wasm memory);
//  2. `node --cpu-prof` of `amalgam merge` in a child, summarised as the top functions by self time.
//
//   npm run build && node bench/profile.js [--scale N] [--top N]
import { spawnSync } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { BENCH_ROOT, ensureModels } from "./make-models.js";
import { syncDisks, warmFiles } from "./measure.js";

const REPO = join(dirname(fileURLToPath(import.meta.url)), "..");
const FINETUNES = ["ft_dense", "ft_sparse", "ft_rows"];

function parseArgs(argv) {
  const o = { scale: 1, top: 15 };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--scale") o.scale = Number(argv[++i]);
    else if (argv[i] === "--top") o.top = Number(argv[++i]);
    else throw new Error(`unknown argument ${argv[i]}; usage: profile.js [--scale N] [--top N]`);
  }
  return o;
}

const timer = () => {
  const t = { total: 0, calls: 0, bytes: 0 };
  t.add = (ms, bytes = 0) => {
    t.total += ms;
    t.calls++;
    t.bytes += bytes;
  };
  return t;
};

async function phases(configText, outDir) {
  const dist = (p) => import(pathToFileURL(join(REPO, "dist", p)).href);
  const { merge, Kernels } = await dist("src/index.js");
  const { fsResolver, FsOutputSink, loadKernelModule } = await dist("runtimes/node/index.js");
  const read = timer();
  const write = timer();
  const close = timer();
  const kernelTimes = new Map();
  const resolve = fsResolver(REPO);
  const resolveModel = async (ref) => {
    const dir = await resolve(ref);
    return {
      ref: dir.ref, has: (n) => dir.has(n), readFile: (n) => dir.readFile(n),
      open: async (n) => {
        const src = await dir.open(n);
        return {
          size: src.size,
          async readInto(offset, dest) {
            const t0 = performance.now();
            await src.readInto(offset, dest);
            read.add(performance.now() - t0, dest.length);
          },
        };
      },
    };
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
          write.add(performance.now() - t0, chunk.length);
        },
        async close() {
          const t0 = performance.now();
          await w.close();
          close.add(performance.now() - t0);
        },
      };
    },
  };
  const k = await Kernels.instantiate(await loadKernelModule());
  const call = k.call.bind(k);
  k.call = (name, ...args) => {
    const t0 = performance.now();
    call(name, ...args);
    let t = kernelTimes.get(name);
    if (!t) kernelTimes.set(name, (t = timer()));
    t.add(performance.now() - t0);
  };
  const t0 = performance.now();
  const r = await merge(configText, { resolveModel, sink, kernels: k, outputName: "profile" });
  const wall = performance.now() - t0;
  const kernels = [...kernelTimes].map(([name, t]) => ({ name, ms: t.total, calls: t.calls })).sort((a, b) => b.ms - a.ms);
  const kernelMs = kernels.reduce((a, x) => a + x.ms, 0);
  return {
    wallMs: wall, readMs: read.total, readBytes: read.bytes, writeMs: write.total, writeBytes: write.bytes, closeFsyncMs: close.total,
    kernelMs, kernels, otherMs: wall - read.total - write.total - close.total - kernelMs, peakKernelBytes: r.peakKernelBytes,
  };
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

function cpuProfile(configPath, outDir, profDir, top) {
  const { names: wasmNames } = wasmExportNames(readFileSync(join(REPO, "build", "amalgam.wasm")));
  rmSync(profDir, { recursive: true, force: true });
  mkdirSync(profDir, { recursive: true });
  const r = spawnSync(process.execPath, ["--cpu-prof", `--cpu-prof-dir=${profDir}`, join(REPO, "bin", "amalgam.js"), "merge", configPath, outDir, "--quiet"], { cwd: REPO, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`amalgam merge failed:\n${r.stderr}`);
  const file = readdirSync(profDir).find((f) => f.endsWith(".cpuprofile"));
  const prof = JSON.parse(readFileSync(join(profDir, file), "utf8"));
  // self time per node = samples hitting it * the sampling interval
  const dt = new Map();
  for (let i = 0; i < prof.samples.length; i++) dt.set(prof.samples[i], (dt.get(prof.samples[i]) ?? 0) + (prof.timeDeltas[i + 1] ?? 0));
  const byFn = new Map();
  let total = 0;
  for (const n of prof.nodes) {
    const ms = (dt.get(n.id) ?? 0) / 1000;
    total += ms;
    const cf = n.callFrame;
    const where = cf.url ? `${cf.url.replace(pathToFileURL(REPO).href + "/", "")}:${cf.lineNumber + 1}` : "";
    const wf = /^wasm-function\[(\d+)\]$/.exec(cf.functionName);
    const key = wf ? `wasm ${wasmNames.get(Number(wf[1])) ?? cf.functionName} (kernel)` : `${cf.functionName || "(anonymous)"} ${where}`.trim();
    byFn.set(key, (byFn.get(key) ?? 0) + ms);
  }
  const rows = [...byFn].map(([fn, ms]) => ({ fn, ms, pct: (100 * ms) / total })).sort((a, b) => b.ms - a.ms).slice(0, top);
  return { file: join(profDir, file), totalMs: total, top: rows };
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const set = ensureModels({ scale: o.scale, variants: FINETUNES, log: (m) => console.error(m) });
  const w = [0.5, 0.3, 0.2];
  const yaml = ["merge_method: linear", "models:", ...FINETUNES.flatMap((v, i) => [`  - model: ${JSON.stringify(set.dirs[v])}`, `    parameters: {weight: ${w[i]}}`]), "dtype: bfloat16", ""].join("\n");
  const work = join(BENCH_ROOT, "profile");
  mkdirSync(work, { recursive: true });
  const configPath = join(work, `linear-x${o.scale}.yml`);
  writeFileSync(configPath, yaml);
  const inputs = FINETUNES.flatMap((v) => set.layout.files.map((f) => join(set.dirs[v], f.name)));
  warmFiles(inputs);

  const out = join(work, "out");
  rmSync(out, { recursive: true, force: true });
  syncDisks();
  const p = await phases(yaml, out);
  rmSync(out, { recursive: true, force: true });
  const s = (ms) => `${(ms / 1000).toFixed(2)} s`;
  const pct = (ms) => `${((100 * ms) / p.wallMs).toFixed(0)}%`;
  console.log(`linear of 3, x${o.scale} (warm cache), in-process: ${s(p.wallMs)}`);
  console.log(`  read (await readInto)   ${s(p.readMs)} ${pct(p.readMs)}  ${(p.readBytes / 1e9 / (p.readMs / 1000)).toFixed(2)} GB/s`);
  console.log(`  kernels                 ${s(p.kernelMs)} ${pct(p.kernelMs)}`);
  for (const k of p.kernels) console.log(`    ${k.name.padEnd(20)} ${s(k.ms)} ${pct(k.ms)}  (${k.calls} calls)`);
  console.log(`  write (await write)     ${s(p.writeMs)} ${pct(p.writeMs)}  ${(p.writeBytes / 1e9 / (p.writeMs / 1000)).toFixed(2)} GB/s`);
  console.log(`  close (fsync)           ${s(p.closeFsyncMs)} ${pct(p.closeFsyncMs)}`);
  console.log(`  other JS                ${s(p.otherMs)} ${pct(p.otherMs)}`);
  console.log(`  peak wasm memory        ${(p.peakKernelBytes / 2 ** 20).toFixed(0)} MiB`);

  syncDisks();
  const c = cpuProfile(configPath, out, join(work, "cpuprof"), o.top);
  rmSync(out, { recursive: true, force: true });
  console.log(`\nnode --cpu-prof (main thread; file I/O runs on libuv's pool and shows as idle): ${s(c.totalMs)} sampled, top ${o.top} by self time`);
  for (const r of c.top) console.log(`  ${r.pct.toFixed(1).padStart(5)}%  ${s(r.ms).padStart(8)}  ${r.fn}`);
  console.log(`profile: ${c.file}`);
  writeFileSync(join(work, "profile.json"), JSON.stringify({ phases: p, cpuProfile: c }, null, 2) + "\n");
}

main().catch((e) => {
  console.error(`profile: ${e.stack ?? e.message}`);
  process.exit(1);
});
