#!/usr/bin/env node
// npm run fuzz -- --cases N [--target safetensors|index|config|yaml|json[,...]] [--seed S]
//   [--workers W] [--case-timeout MS] [--slow MS] [--memory MB] [--chunk N] [--minutes M] [--out DIR]
//   [--coverage]
//
// Runs the fuzzers of src/fuzz (from dist/, built by `npm run build:ts`) in worker threads. Each
// target's cases are split into chunks run by the workers; a watchdog ends a worker whose case runs
// past --case-timeout (a hang) and a heap limit catches out-of-memory; both are findings, the run
// then goes on after the case. Findings are written to --out as JSON (input included, base64 for
// bytes). Exit code 1 when anything but a typed error or a valid acceptance happened. Jobs of all
// targets are interleaved; --minutes M (or Ctrl-C) stops handing out jobs, and the summary then
// counts the cases that did run.
import { Worker, isMainThread, parentPort, workerData } from "node:worker_threads";
import { availableParallelism } from "node:os";
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const dist = (p) => pathToFileURL(join(root, "dist", p)).href;

if (!isMainThread) {
  const { heartbeat, coverage } = workerData;
  const beat = new Float64Array(heartbeat);
  let session;
  if (coverage) {
    // Started before the fuzzers are loaded, so every function gets block counts.
    const { Session } = await import("node:inspector/promises");
    session = new Session();
    session.connect();
    await session.post("Profiler.enable");
    await session.post("Profiler.startPreciseCoverage", { callCount: true, detailed: true });
  }
  const { runFuzz } = await import(dist("src/fuzz/fuzz-loop.js"));
  parentPort.on("message", async (job) => {
    if (job.type === "coverage") {
      const { result } = await session.post("Profiler.takePreciseCoverage");
      const files = {};
      for (const s of result) {
        if (!s.url.includes("/dist/src/")) continue;
        const blocks = (files[s.url] ??= {});
        for (const f of s.functions) for (const r of f.ranges) {
          const k = `${r.startOffset}-${r.endOffset}`;
          blocks[k] = (blocks[k] ?? 0) + r.count;
        }
      }
      parentPort.postMessage({ type: "coverage", files });
      return;
    }
    const stats = await runFuzz({
      target: job.target, seed: job.seed, first: job.first, cases: job.cases, slowMs: job.slowMs,
      onCase: (i) => { beat[0] = i; beat[1] = performance.timeOrigin + performance.now(); },
    });
    beat[1] = 0;
    parentPort.postMessage({ type: "done", job, stats });
  });
  parentPort.postMessage({ type: "ready" });
} else {
  await main();
}

function parseCli(argv) {
  const o = { cases: 10_000, targets: undefined, seed: 1, workers: availableParallelism(), caseTimeout: 10_000, slowMs: 1000, memory: 1024, chunk: 10_000, minutes: 0, out: "fuzz-findings", coverage: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = () => { const x = argv[++i]; if (x === undefined) throw new Error(`${a} needs a value`); return x; };
    if (a === "--cases") o.cases = Number(v());
    else if (a === "--target" || a === "--targets") o.targets = [...(o.targets ?? []), ...v().split(",")];
    else if (a === "--seed") o.seed = Number(v());
    else if (a === "--workers") o.workers = Number(v());
    else if (a === "--case-timeout") o.caseTimeout = Number(v());
    else if (a === "--slow") o.slowMs = Number(v());
    else if (a === "--memory") o.memory = Number(v());
    else if (a === "--chunk") o.chunk = Number(v());
    else if (a === "--minutes") o.minutes = Number(v());
    else if (a === "--out") o.out = v();
    else if (a === "--coverage") o.coverage = true;
    else if (a === "--help" || a === "-h") { console.log(readmeText()); process.exit(0); }
    else throw new Error(`unknown option ${a}`);
  }
  for (const k of ["cases", "seed", "workers", "caseTimeout", "slowMs", "memory", "chunk", "minutes"]) {
    if (!Number.isSafeInteger(o[k]) || o[k] < 0 || (!["seed", "cases", "minutes"].includes(k) && o[k] === 0)) throw new Error(`--${k}: expected a non-negative integer`);
  }
  return o;
}

function readmeText() {
  return "usage: npm run fuzz -- --cases N [--target safetensors,index,config,yaml,json] [--seed S] [--workers W]\n" +
    "  [--case-timeout MS (hang limit, default 10000)] [--slow MS (slow-case finding, default 1000)] [--memory MB (worker heap, default 1024)]\n" +
    "  [--chunk N (cases per worker job, default 10000)] [--minutes M (stop handing out jobs after M minutes)]\n" +
    "  [--out DIR (findings, default fuzz-findings)] [--coverage (V8 block coverage of src/)]";
}

async function main() {
  const opts = parseCli(process.argv.slice(2));
  const { FUZZ_TARGETS } = await import(dist("src/fuzz/target.js"));
  const targets = opts.targets ?? FUZZ_TARGETS;
  for (const t of targets) if (!FUZZ_TARGETS.includes(t)) throw new Error(`unknown target ${t}; expected ${FUZZ_TARGETS.join(", ")}`);
  // Interleaved: chunk 1 of every target, then chunk 2 of every target, ...
  const jobs = [];
  for (let first = 0; first < opts.cases; first += opts.chunk) {
    for (const target of targets) jobs.push({ target, seed: opts.seed, first, cases: Math.min(opts.chunk, opts.cases - first), slowMs: opts.slowMs });
  }
  let stopped = "";
  const stop = (why) => { if (!stopped) { stopped = why; process.stderr.write(`stopping (${why}): running jobs finish, no new ones start\n`); } };
  process.on("SIGINT", () => stop("interrupted"));
  process.on("SIGTERM", () => stop("terminated"));
  if (opts.minutes) setTimeout(() => stop(`--minutes ${opts.minutes}`), opts.minutes * 60_000).unref();
  const totals = Object.fromEntries(targets.map((t) => [t, { cases: 0, accepted: 0, rejected: 0, signatures: 0, codes: {}, uncaught: 0, violation: 0, unnamed: 0, slow: 0, hang: 0, oom: 0, crash: 0, maxCaseMs: 0, ms: 0 }]));
  const findings = [];
  const coverage = {};
  const allCases = jobs.reduce((a, j) => a + j.cases, 0);
  const started = Date.now();
  let lastReport = 0;
  const report = (force) => {
    const now = Date.now();
    if (!force && now - lastReport < 10_000) return;
    lastReport = now;
    const done = Object.values(totals).reduce((a, t) => a + t.cases, 0);
    process.stderr.write(`[${((now - started) / 1000).toFixed(0)} s] ${done} / ${allCases} cases\n`);
  };

  const runWorker = () => new Promise((resolveWorker) => {
    const heartbeat = new SharedArrayBuffer(16);
    const beat = new Float64Array(heartbeat);
    const worker = new Worker(fileURLToPath(import.meta.url), { workerData: { heartbeat, coverage: opts.coverage }, resourceLimits: { maxOldGenerationSizeMb: opts.memory } });
    let job;
    let finished = false;
    const next = () => {
      job = stopped ? undefined : jobs.shift();
      if (!job) {
        if (opts.coverage) { worker.postMessage({ type: "coverage" }); return; }
        finished = true;
        void worker.terminate();
        resolveWorker();
        return;
      }
      beat[1] = 0;
      worker.postMessage(job);
    };
    // A case that ends the worker (hang, OOM, crash): record it, requeue the rest of the job.
    const lost = (kind, detail) => {
      if (finished) return;
      finished = true;
      clearInterval(watch);
      if (job) {
        const at = beat[0] >= job.first ? beat[0] : job.first;
        totals[job.target][kind]++;
        totals[job.target].cases += at - job.first + 1;
        findings.push({ kind, target: job.target, seed: job.seed, first: job.first, case: at, error: detail, input: "(re-run this case: --seed, and the job's first case, reproduce it)" });
        if (at + 1 < job.first + job.cases) jobs.unshift({ ...job, first: at + 1, cases: job.first + job.cases - at - 1 });
      }
      void worker.terminate();
      resolveWorker(runWorker());
    };
    const watch = setInterval(() => {
      const t = beat[1];
      if (t && Date.now() - t > opts.caseTimeout) lost("hang", `case ${beat[0]} ran longer than ${opts.caseTimeout} ms`);
    }, 200);
    worker.on("message", (m) => {
      if (m.type === "ready") next();
      else if (m.type === "coverage") {
        for (const [url, blocks] of Object.entries(m.files)) {
          const c = (coverage[url] ??= {});
          for (const [k, n] of Object.entries(blocks)) c[k] = (c[k] ?? 0) + n;
        }
        finished = true;
        clearInterval(watch);
        void worker.terminate();
        resolveWorker();
      } else if (m.type === "done") {
        const s = m.stats;
        const t = totals[s.target];
        t.cases += s.cases; t.accepted += s.accepted; t.rejected += s.rejected; t.signatures = Math.max(t.signatures, s.signatures);
        for (const [c, n] of Object.entries(s.codes)) t.codes[c] = (t.codes[c] ?? 0) + n;
        for (const f of s.findings) { t[f.kind]++; findings.push({ ...f, seed: s.seed, first: s.first }); }
        t.maxCaseMs = Math.max(t.maxCaseMs, s.maxCaseMs);
        t.ms += s.totalMs;
        report(false);
        next();
      }
    });
    worker.on("error", (e) => lost(e?.code === "ERR_WORKER_OUT_OF_MEMORY" ? "oom" : "crash", `${e?.code ?? ""} ${e?.message ?? e}`));
    worker.on("exit", (code) => { if (!finished) lost("crash", `worker exited with code ${code}`); else clearInterval(watch); });
  });

  await Promise.all(Array.from({ length: Math.max(1, opts.workers) }, () => runWorker()));
  report(true);
  const wall = (Date.now() - started) / 1000;

  if (findings.length) {
    mkdirSync(opts.out, { recursive: true });
    findings.forEach((f, i) => writeFileSync(join(opts.out, `${f.target}-${f.kind}-${f.case}-${i}.json`), JSON.stringify(f, null, 2)));
  }
  const bad = ["uncaught", "violation", "unnamed", "hang", "oom", "crash"];
  const rows = [["target", "cases", "accepted", "rejected", "signatures", ...bad, "slow", "max case ms", "cases/s/worker"]];
  for (const [name, t] of Object.entries(totals)) {
    rows.push([name, t.cases, t.accepted, t.rejected, t.signatures, ...bad.map((k) => t[k]), t.slow, t.maxCaseMs.toFixed(0), t.ms ? Math.round(t.cases / (t.ms / 1000)) : "-"]);
  }
  const w = rows[0].map((_, i) => Math.max(...rows.map((r) => String(r[i]).length)));
  console.log(`fuzz: seed ${opts.seed}, ${opts.workers} worker(s), chunk ${opts.chunk}, hang limit ${opts.caseTimeout} ms, heap ${opts.memory} MB, ${wall.toFixed(0)} s${stopped ? ` (stopped early: ${stopped})` : ""}`);
  for (const r of rows) console.log(r.map((c, i) => String(c).padStart(w[i])).join("  "));
  for (const [name, t] of Object.entries(totals)) console.log(`${name} rejections: ${Object.entries(t.codes).sort((a, b) => b[1] - a[1]).map(([c, n]) => `${c} ${n}`).join(", ")}`);
  if (opts.coverage) {
    console.log("V8 block coverage (blocks executed / blocks), src/ files the targets reach:");
    for (const [url, blocks] of Object.entries(coverage).sort()) {
      const vals = Object.values(blocks);
      const hit = vals.filter((n) => n > 0).length;
      if (/\/(io|config|fuzz)\//.test(url)) console.log(`  ${relative(join(root, "dist"), fileURLToPath(url)).padEnd(40)} ${hit} / ${vals.length} (${((100 * hit) / vals.length).toFixed(0)}%)`);
    }
  }
  const failures = Object.values(totals).reduce((a, t) => a + bad.reduce((b, k) => b + t[k], 0), 0);
  if (findings.length) console.log(`findings written to ${opts.out}/`);
  console.log(failures ? `FAIL: ${failures} finding(s) that are not typed errors` : "OK: every case ended in acceptance or a typed error");
  process.exitCode = failures ? 1 : 0;
}
