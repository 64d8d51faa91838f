// Measuring a child Node process: wall time, peak RSS and CPU times, plus page-cache control.
// Peak RSS comes from GNU time (`/usr/bin/time -v`) when present, else from bench/rss-wrap.js.
import { spawnSync } from "node:child_process";
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const HERE = dirname(fileURLToPath(import.meta.url));
const GNU_TIME = "/usr/bin/time";

/** "gnu-time" or "wrapper" (AMALGAM_BENCH_RSS=wrapper forces the fallback, for checking it). */
export function rssMethod() {
  if (process.env.AMALGAM_BENCH_RSS === "wrapper") return "wrapper";
  if (!existsSync(GNU_TIME)) return "wrapper";
  const r = spawnSync(GNU_TIME, ["-v", "true"], { encoding: "utf8" });
  return r.status === 0 && /Maximum resident set size/.test(r.stderr) ? "gnu-time" : "wrapper";
}

function parseGnuTime(text) {
  const num = (re) => {
    const m = re.exec(text);
    return m ? Number(m[1]) : NaN;
  };
  return {
    maxRssKiB: num(/Maximum resident set size \(kbytes\): (\d+)/),
    userS: num(/User time \(seconds\): ([\d.]+)/),
    sysS: num(/System time \(seconds\): ([\d.]+)/),
  };
}

/** Busy CPU seconds of the whole machine so far (all CPUs; /proc/stat), or null off Linux. */
export function machineBusyS() {
  try {
    const f = readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal ...
    const busy = f[0] + f[1] + f[2] + f[5] + f[6];
    return busy / 100; // USER_HZ is 100 on Linux
  } catch {
    return null;
  }
}

function sleepMs(ms) {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * Waits (up to maxS seconds) until the machine is idle: fewer than `threshold` CPUs busy over a
 * 2-second window. On a shared machine this starts each sample in a lull. Returns
 * { waitedS, quiet, busyCpus } (busyCpus of the last window; null off Linux).
 */
export function waitQuiet(maxS, threshold = 0.3) {
  const t0 = performance.now();
  let busyCpus = null;
  for (;;) {
    const a = machineBusyS();
    if (a === null) return { waitedS: 0, quiet: false, busyCpus: null };
    sleepMs(2000);
    busyCpus = (machineBusyS() - a) / 2;
    const waitedS = (performance.now() - t0) / 1000;
    if (busyCpus < threshold) return { waitedS, quiet: true, busyCpus };
    if (waitedS >= maxS) return { waitedS, quiet: false, busyCpus };
  }
}

/**
 * Runs `node SCRIPT ARGS...` and returns { wallS, maxRssBytes, userS, sysS, othersCpuS, stdout }.
 * Throws with the child's stderr when it fails.
 */
export function measureNode(script, args, { cwd, method = rssMethod(), nodeArgs = [] } = {}) {
  const dir = mkdtempSync(join(tmpdir(), "amalgam-bench-"));
  const stats = join(dir, "stats");
  let cmd;
  let argv;
  if (method === "gnu-time") {
    cmd = GNU_TIME;
    argv = ["-v", "-o", stats, process.execPath, ...nodeArgs, script, ...args];
  } else {
    cmd = process.execPath;
    argv = [...nodeArgs, join(HERE, "rss-wrap.js"), stats, script, ...args];
  }
  const busy0 = machineBusyS();
  const t0 = performance.now();
  const r = spawnSync(cmd, argv, { cwd, encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
  const wallS = (performance.now() - t0) / 1000;
  const busy1 = machineBusyS();
  try {
    if (r.status !== 0) throw new Error(`${script} ${args.join(" ")} failed (exit ${r.status ?? r.signal}):\n${r.stderr}`);
    const text = readFileSync(stats, "utf8");
    const s = method === "gnu-time" ? parseGnuTime(text) : JSON.parse(text);
    // CPU time the rest of the machine used meanwhile (other processes, plus kernel write-back)
    const othersCpuS = busy0 === null || busy1 === null ? null : Math.max(0, busy1 - busy0 - s.userS - s.sysS);
    return { wallS, maxRssBytes: s.maxRssKiB * 1024, userS: s.userS, sysS: s.sysS, othersCpuS, stdout: r.stdout, stderr: r.stderr };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Flushes dirty pages (so one run's write-back does not land in the next run's time). */
export function syncDisks() {
  spawnSync("sync");
}

/**
 * Drops the page cache (needs root on Linux). Returns null on success, else the reason it
 * could not, e.g. "EACCES" or "not Linux".
 */
export function dropCaches() {
  if (process.platform !== "linux") return `not Linux (${process.platform})`;
  syncDisks();
  try {
    writeFileSync("/proc/sys/vm/drop_caches", "3\n");
    return null;
  } catch (e) {
    return e.code ?? e.message;
  }
}

/** Reads files to pull them into the page cache. */
export function warmFiles(files) {
  const buf = Buffer.allocUnsafe(64 * 1024 * 1024);
  for (const f of files) {
    const fd = openSync(f, "r");
    try {
      let off = 0;
      for (;;) {
        const n = readSync(fd, buf, 0, buf.length, off);
        if (n === 0) break;
        off += n;
      }
    } finally {
      closeSync(fd);
    }
  }
}

/** Bytes of file data in the page cache ("Cached" in /proc/meminfo), or null off Linux. */
export function pageCacheBytes() {
  try {
    const m = /^Cached:\s+(\d+) kB/m.exec(readFileSync("/proc/meminfo", "utf8"));
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}
