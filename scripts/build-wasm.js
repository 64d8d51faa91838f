#!/usr/bin/env node
// Builds both kernel artifacts from the one AssemblyScript source (asconfig.json targets) and
// prints each artifact's size and SHA-256, so a changed build is visible in logs.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { readFileSync, mkdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const asc = join(root, "node_modules", "assemblyscript", "bin", "asc.js");
mkdirSync(join(root, "build"), { recursive: true });
for (const target of ["simd", "mt"]) {
  execFileSync(process.execPath, [asc, "--config", "asconfig.json", "--target", target], { cwd: root, stdio: "inherit" });
  const out = JSON.parse(readFileSync(join(root, "asconfig.json"), "utf8")).targets[target].outFile;
  const bytes = readFileSync(join(root, out));
  const hash = createHash("sha256").update(bytes).digest("hex").slice(0, 16);
  console.log(`wasm ${target}: ${out} ${bytes.length} bytes sha256:${hash}`);
}
