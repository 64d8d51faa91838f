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

/**
 * Runs `node SCRIPT ARGS...` and returns { wallS, maxRssBytes, userS, sysS, stdout }.
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
  const t0 = performance.now();
  const r = spawnSync(cmd, argv, { cwd, encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
  const wallS = (performance.now() - t0) / 1000;
  try {
    if (r.status !== 0) throw new Error(`${script} ${args.join(" ")} failed (exit ${r.status ?? r.signal}):\n${r.stderr}`);
    const text = readFileSync(stats, "utf8");
    const s = method === "gnu-time" ? parseGnuTime(text) : JSON.parse(text);
    return { wallS, maxRssBytes: s.maxRssKiB * 1024, userS: s.userS, sysS: s.sysS, stdout: r.stdout, stderr: r.stderr };
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
