#!/usr/bin/env node
// `npm run bench`: wall time and peak RSS of `amalgam merge` (a child process) on TinyLlama-shaped
// bf16 models, next to the floor measured in the same run (read every input byte and write the
// output bytes with plain file I/O, no math), with a cold page cache (when it can be dropped)
// and a warm one. Prints a table and writes .cache/bench/results.json.
//
//   npm run bench [-- --repeat N] [--no-cold] [--no-warm] [--no-scale] [--only linear,ties] [--buffered-writes] [--wait-quiet S] [--nice N] [--json FILE]
//
// --wait-quiet S: before each sample, wait up to S seconds for the machine to be idle (a shared
// machine's other work inflates wall times; every sample records the CPU time others used).
// --buffered-writes: the merge runs with --no-direct-writes and the floor writes through the page
// cache too (by default both write the output with direct I/O where the file system takes it).
// --nice N: run this process and the measured children at scheduling priority N (negative values
// need root), so that other processes on a shared machine take less of the CPUs from them.
//
// Cases: linear of 3 fine-tunes; ties of base + 3 (densities 0.5/0.7/0.3) when the build has a
// `ties` method; both at 2x the layers (the scaling check: time ~2x, peak RSS flat).
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, rmSync, statSync, writeFileSync, readdirSync } from "node:fs";
import os from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { FINETUNES, linearYaml, tiesYaml } from "./configs.js";
import { BENCH_ROOT, VARIANTS, ensureModels } from "./make-models.js";
import { dropCaches, measureNode, pageCacheBytes, rssMethod, syncDisks, waitQuiet, warmFiles } from "./measure.js";

const REPO = join(dirname(fileURLToPath(import.meta.url)), "..");
const CLI = join(REPO, "bin", "amalgam.js");
const FLOOR = join(REPO, "bench", "floor.js");
/** Issue 4's MergeKit numbers on a machine of this kind (cold cache), quoted, not measured here. */
const MERGEKIT = { linear: { wallS: 37.7, rssGiB: 4.4 }, ties: { wallS: 204, rssGiB: 5.4 } };

function parseArgs(argv) {
  const o = { repeat: 3, directWrites: true, cold: true, warm: true, scale: true, only: null, waitQuiet: 0, nice: null, json: join(BENCH_ROOT, "results.json") };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--repeat") o.repeat = Number(argv[++i]);
    else if (a === "--no-cold") o.cold = false;
    else if (a === "--buffered-writes") o.directWrites = false;
    else if (a === "--no-warm") o.warm = false;
    else if (a === "--no-scale") o.scale = false;
    else if (a === "--only") o.only = String(argv[++i]).split(",");
    else if (a === "--json") o.json = argv[++i];
    else if (a === "--wait-quiet") o.waitQuiet = Number(argv[++i]);
    else if (a === "--nice") o.nice = Number(argv[++i]);
    else if (a === "--help" || a === "-h") {
      console.log("usage: npm run bench [-- --repeat N] [--no-cold] [--no-warm] [--no-scale] [--only linear,ties] [--buffered-writes] [--wait-quiet S] [--nice N] [--json FILE]");
      process.exit(0);
    } else throw new Error(`unknown argument ${a} (see --help)`);
  }
  if (!Number.isInteger(o.repeat) || o.repeat < 1) throw new Error(`--repeat: expected a positive integer`);
  return o;
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

function dirBytes(dir, suffix) {
  let n = 0;
  for (const f of readdirSync(dir)) if (f.endsWith(suffix)) n += statSync(join(dir, f)).size;
  return n;
}

function gitCommit() {
  try {
    const head = execFileSync("git", ["rev-parse", "--short", "HEAD"], { cwd: REPO, encoding: "utf8" }).trim();
    const dirty = execFileSync("git", ["status", "--porcelain", "--untracked-files=no"], { cwd: REPO, encoding: "utf8" }).trim() !== "";
    return dirty ? `${head}+dirty` : head;
  } catch {
    return null;
  }
}

function machine() {
  const cpus = os.cpus();
  return {
    cpu: cpus[0]?.model ?? "?", logicalCpus: cpus.length, memGiB: +(os.totalmem() / 2 ** 30).toFixed(1),
    os: `${os.type()} ${os.release()}`, node: process.version,
  };
}

/** One measured sample of the floor or the merge for a case. */
function runOnce(kind, c, mode, outRoot, rssHow, quietS, directWrites) {
  const out = join(outRoot, `${c.id}-${mode}-${kind}`);
  rmSync(out, { recursive: true, force: true });
  syncDisks();
  const quiet = quietS > 0 ? waitQuiet(quietS) : null;
  if (mode === "cold") {
    const why = dropCaches();
    if (why) throw new Error(`could not drop the page cache: ${why}`);
  }
  const loadavg = os.loadavg()[0];
  let r;
  if (kind === "floor") {
    mkdirSync(out, { recursive: true });
    r = measureNode(FLOOR, [...(directWrites ? ["--direct"] : []), "--out", join(out, "floor.bin"), "--out-bytes", String(c.outputBytes), ...c.inputFiles], { cwd: REPO, method: rssHow });
  } else {
    r = measureNode(CLI, ["merge", c.configPath, out, "--quiet", ...(directWrites ? [] : ["--no-direct-writes"])], { cwd: REPO, method: rssHow });
    const got = dirBytes(out, ".safetensors");
    if (got !== c.outputBytes) throw new Error(`${c.id}: merge wrote ${got} bytes of safetensors, expected ${c.outputBytes}`);
  }
  rmSync(out, { recursive: true, force: true });
  const phases = kind === "floor" ? JSON.parse(r.stdout.trim().split("\n").at(-1)) : undefined;
  return { wallS: r.wallS, maxRssBytes: r.maxRssBytes, userS: r.userS, sysS: r.sysS, othersCpuS: r.othersCpuS, loadavg1: loadavg, ...(quiet ? { waitedS: quiet.waitedS, startedQuiet: quiet.quiet } : {}), ...(phases ? { phases: { readS: phases.readS, writeS: phases.writeS, fsyncS: phases.fsyncS } } : {}) };
}

const fmtS = (s) => (s >= 100 ? s.toFixed(0) : s >= 10 ? s.toFixed(1) : s.toFixed(2));
const mib = (b) => (b / 2 ** 20).toFixed(0);

function summarize(samples) {
  return {
    wallS: median(samples.map((s) => s.wallS)), minWallS: Math.min(...samples.map((s) => s.wallS)),
    cpuS: median(samples.map((s) => s.userS + s.sysS)), userS: median(samples.map((s) => s.userS)), maxRssBytes: Math.max(...samples.map((s) => s.maxRssBytes)),
  };
}

async function main() {
  const opt = parseArgs(process.argv.slice(2));
  if (opt.nice !== null) os.setPriority(opt.nice); // children inherit it
  const index = join(REPO, "dist", "src", "index.js");
  if (!existsSync(index) || !existsSync(join(REPO, "dist", "runtimes", "node", "cli.js"))) {
    throw new Error(`no build in ${join(REPO, "dist")}; run "npm run build" first`);
  }
  const { listMethods } = await import(pathToFileURL(index).href);
  const methods = listMethods().map((m) => m.name);
  const want = (m) => !opt.only || opt.only.includes(m);
  const tiesAvailable = methods.includes("ties");

  const log = (m) => console.error(m);
  const x1 = ensureModels({ scale: 1, variants: tiesAvailable && want("ties") ? VARIANTS : FINETUNES, log });
  const tiesX2 = opt.scale && tiesAvailable && want("ties");
  const x2 = opt.scale && (want("linear") || tiesX2) ? ensureModels({ scale: 2, variants: tiesX2 ? VARIANTS : FINETUNES, log }) : null;

  const cfgDir = join(BENCH_ROOT, "configs");
  const outRoot = join(BENCH_ROOT, "out");
  mkdirSync(cfgDir, { recursive: true });
  mkdirSync(outRoot, { recursive: true });
  const mkCase = (id, method, scale, set, yaml, variants) => {
    const configPath = join(cfgDir, `${id}.yml`);
    writeFileSync(configPath, yaml);
    const inputFiles = variants.flatMap((v) => set.layout.files.map((f) => join(set.dirs[v], f.name)));
    const inputBytes = inputFiles.reduce((a, f) => a + statSync(f).size, 0);
    // one output model: the merged tensors in a single model.safetensors (header of about the same size)
    const outputBytes = set.layout.files.reduce((a, f) => a + f.dataBytes, 0) + outputHeaderBytes(set);
    return { id, method, scale, layers: set.arch.layers, configPath, inputFiles, inputBytes, outputBytes, models: variants.length };
  };
  const cases = [];
  const notes = [];
  if (want("linear")) cases.push(mkCase("linear-x1", "linear", 1, x1, linearYaml(x1.dirs), FINETUNES));
  if (want("ties")) {
    if (tiesAvailable) cases.push(mkCase("ties-x1", "ties", 1, x1, tiesYaml(x1.dirs), ["base", ...FINETUNES]));
    else notes.push(`ties: not available (this build's methods: ${methods.join(", ")})`);
  }
  if (x2 && want("linear")) cases.push(mkCase("linear-x2", "linear", 2, x2, linearYaml(x2.dirs), FINETUNES));
  if (x2 && tiesX2) cases.push(mkCase("ties-x2", "ties", 2, x2, tiesYaml(x2.dirs), ["base", ...FINETUNES]));

  const rssHow = rssMethod();
  let coldWhy = opt.cold ? dropCaches() : "skipped (--no-cold)";
  const modes = [...(opt.cold && !coldWhy ? ["cold"] : []), ...(opt.warm ? ["warm"] : [])];
  if (opt.cold && coldWhy) notes.push(`cold: not available (dropping the page cache failed: ${coldWhy})`);
  const started = new Date().toISOString();
  const load0 = os.loadavg();
  log(`rss via ${rssHow}; modes: ${modes.join(", ") || "none"}; ${opt.repeat} run(s) each; output writes ${opt.directWrites ? "direct (floor too)" : "buffered (floor too)"}; load average ${load0.map((x) => x.toFixed(2)).join(" ")}`);

  const results = [];
  for (const c of cases) {
    for (const mode of modes) {
      if (mode === "warm") {
        warmFiles(c.inputFiles);
      }
      const floor = [];
      const mergeRuns = [];
      for (let i = 0; i < opt.repeat; i++) {
        floor.push(runOnce("floor", c, mode, outRoot, rssHow, opt.waitQuiet, opt.directWrites));
        mergeRuns.push(runOnce("merge", c, mode, outRoot, rssHow, opt.waitQuiet, opt.directWrites));
        const f = floor.at(-1);
        const m = mergeRuns.at(-1);
        log(`  ${c.id} ${mode} #${i + 1}: floor ${fmtS(f.wallS)} s (read ${f.phases.readS}, write ${f.phases.writeS}, fsync ${f.phases.fsyncS}), merge ${fmtS(m.wallS)} s, ${mib(m.maxRssBytes)} MiB (CPU s used by others during floor/merge: ${f.othersCpuS?.toFixed(1) ?? "?"}/${m.othersCpuS?.toFixed(1) ?? "?"}${m.waitedS !== undefined ? `; waited ${f.waitedS.toFixed(0)}/${m.waitedS.toFixed(0)} s for quiet` : ""})`);
      }
      const fs = summarize(floor);
      const ms = summarize(mergeRuns);
      results.push({
        case: c.id, method: c.method, scale: c.scale, layers: c.layers, cache: mode, inputBytes: c.inputBytes, outputBytes: c.outputBytes,
        floor: { ...fs, samples: floor }, merge: { ...ms, samples: mergeRuns }, ratioToFloor: ms.wallS / fs.wallS, bestRatioToFloor: ms.minWallS / fs.minWallS,
      });
    }
  }

  // --- report ----------------------------------------------------------------------------------
  const lines = [];
  lines.push("| case | layers | input GB | cache | floor s | merge s | merge / floor | merge CPU s (user+sys) | floor peak RSS MiB | merge peak RSS MiB |");
  lines.push("|---|---:|---:|---|---:|---:|---:|---:|---:|---:|");
  for (const r of results) {
    const both = (a, b) => (opt.repeat > 1 ? `${a} (${b})` : a);
    lines.push(`| ${r.case} | ${r.layers} | ${(r.inputBytes / 1e9).toFixed(2)} | ${r.cache} | ${both(fmtS(r.floor.wallS), fmtS(r.floor.minWallS))} | ${both(fmtS(r.merge.wallS), fmtS(r.merge.minWallS))} | ${both(`${r.ratioToFloor.toFixed(2)}x`, `${r.bestRatioToFloor.toFixed(2)}x`)} | ${fmtS(r.merge.cpuS)} | ${mib(r.floor.maxRssBytes)} | ${mib(r.merge.maxRssBytes)} |`);
  }
  const scaling = [];
  for (const method of ["linear", "ties"]) for (const mode of modes) {
    const a = results.find((r) => r.case === `${method}-x1` && r.cache === mode);
    const b = results.find((r) => r.case === `${method}-x2` && r.cache === mode);
    if (a && b) {
      scaling.push({ method, cache: mode, bytesRatio: b.inputBytes / a.inputBytes, timeRatio: b.merge.wallS / a.merge.wallS, userCpuRatio: b.merge.userS / a.merge.userS, floorTimeRatio: b.floor.wallS / a.floor.wallS, rssRatio: b.merge.maxRssBytes / a.merge.maxRssBytes, rssX1Bytes: a.merge.maxRssBytes, rssX2Bytes: b.merge.maxRssBytes });
    }
  }
  const vsMergekit = [];
  for (const r of results) {
    const mk = MERGEKIT[r.method];
    if (mk && r.scale === 1 && r.cache === "cold") vsMergekit.push({ case: r.case, mergekitWallS: mk.wallS, speedup: mk.wallS / r.merge.wallS, mergekitRssGiB: mk.rssGiB });
  }

  const times = opt.repeat > 1 ? `times: median (best) of ${opt.repeat} runs` : "times: 1 run";
  console.log(`\nAmalgam benchmark (${started}, commit ${gitCommit() ?? "?"}); ${times}; peak RSS: max over runs (${rssHow})`);
  const m = machine();
  console.log(`machine: ${m.cpu}, ${m.logicalCpus} logical CPUs, ${m.memGiB} GiB, ${m.os}, node ${m.node}${opt.nice !== null ? `; ran at nice ${opt.nice}` : ""}; output writes ${opt.directWrites ? "direct" : "buffered"}, the floor's too\n`);
  console.log(lines.join("\n"));
  if (scaling.length) {
    console.log("\nScaling (2x layers vs 1x):");
    for (const s of scaling) {
      console.log(`  ${s.method} ${s.cache}: input bytes x${s.bytesRatio.toFixed(2)}, merge time x${s.timeRatio.toFixed(2)} (floor x${s.floorTimeRatio.toFixed(2)}), merge user CPU x${s.userCpuRatio.toFixed(2)}, peak RSS ${mib(s.rssX1Bytes)} -> ${mib(s.rssX2Bytes)} MiB (x${s.rssRatio.toFixed(2)})`);
    }
  }
  for (const v of vsMergekit) {
    const how = v.speedup >= 1 ? `${v.speedup.toFixed(1)}x faster` : `${(1 / v.speedup).toFixed(1)}x slower`;
    console.log(`\nvs MergeKit (issue 4's cold numbers, not measured here): ${v.case} ${v.mergekitWallS} s -> ${fmtS(v.mergekitWallS / v.speedup)} s, ${how}`);
  }
  const samples = results.flatMap((r) => [...r.floor.samples, ...r.merge.samples]).filter((x) => x.othersCpuS !== null);
  const busiest = samples.reduce((a, x) => (x.othersCpuS / x.wallS > a.othersCpuS / a.wallS ? x : a), { othersCpuS: 0, wallS: 1 });
  if (busiest.othersCpuS / busiest.wallS > 0.1) {
    notes.push(`noise: other processes (and kernel write-back) used up to ${busiest.othersCpuS.toFixed(1)} CPU s during a ${busiest.wallS.toFixed(1)} s run (samples in the JSON); prefer the best times`);
  }
  for (const n of notes) console.log(`\n${n}`);

  const report = {
    started, finished: new Date().toISOString(), commit: gitCommit(), machine: m, rssMethod: rssHow, directWrites: opt.directWrites, repeat: opt.repeat, nice: os.getPriority(), waitQuietS: opt.waitQuiet,
    loadavgStart: load0, loadavgEnd: os.loadavg(), pageCacheBytesEnd: pageCacheBytes(),
    methods, cold: modes.includes("cold") ? "measured" : `not available: ${coldWhy}`, notes,
    results, scaling, vsMergekit, table: lines.join("\n"),
  };
  mkdirSync(dirname(opt.json), { recursive: true });
  writeFileSync(opt.json, JSON.stringify(report, null, 2) + "\n");
  console.log(`\nwrote ${opt.json}`);
}

/**
 * The merged model's header (metadata {"format":"pt"} plus one entry per tensor, in one file)
 * differs from the inputs' shard headers; compute it the way make-models lays files out.
 */
function outputHeaderBytes(set) {
  const all = set.layout.files.flatMap((f) => f.order);
  let off = 0;
  const parts = ['"__metadata__":{"format":"pt"}'];
  for (const [name, shape] of [...all].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))) {
    const n = shape.reduce((x, y) => x * y, 1) * 2;
    parts.push(`${JSON.stringify(name)}:{"dtype":"BF16","shape":${JSON.stringify(shape)},"data_offsets":[${off},${off + n}]}`);
    off += n;
  }
  return 8 + Math.ceil(Buffer.byteLength(`{${parts.join(",")}}`) / 8) * 8;
}

main().catch((e) => {
  console.error(`bench: ${e.message}`);
  process.exit(1);
});
