#!/usr/bin/env node
// Runs a Node script in this process and, when it exits, writes this process's peak RSS and CPU
// times as JSON to FILE. The fallback for machines without GNU time (/usr/bin/time -v).
//
//   node bench/rss-wrap.js FILE SCRIPT [ARGS...]
import { writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";

const [file, script, ...args] = process.argv.slice(2);
if (!file || !script) {
  console.error("usage: rss-wrap.js FILE SCRIPT [ARGS...]");
  process.exit(2);
}
process.on("exit", () => {
  const u = process.resourceUsage();
  // maxRSS is in kilobytes, userCPUTime and systemCPUTime in microseconds
  writeFileSync(file, JSON.stringify({ maxRssKiB: u.maxRSS, userS: u.userCPUTime / 1e6, sysS: u.systemCPUTime / 1e6 }));
});
const path = resolve(script);
process.argv = [process.argv[0], path, ...args];
await import(pathToFileURL(path).href);
