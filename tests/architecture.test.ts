// House rules that keep the core portable: src/ uses Web APIs only; index.ts only re-exports.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";

const SRC = resolve(import.meta.dirname, "..", "src");

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? files(p) : p.endsWith(".ts") ? [p] : [];
  });
}

describe("src/ is runtime-agnostic", () => {
  const all = files(SRC);
  it("has source files", () => expect(all.length).toBeGreaterThan(20));
  for (const f of all) {
    const rel = f.slice(SRC.length + 1);
    it(`${rel} uses no node:, Deno., Bun. or process`, () => {
      const text = readFileSync(f, "utf8").replace(/\/\/.*$/gm, "").replace(/\/\*[\s\S]*?\*\//g, "");
      expect(text).not.toMatch(/from\s+["']node:|require\(|\bDeno\.|\bBun\.|\bprocess\.|\bBuffer\./);
    });
  }
  it("index.ts files only re-export", () => {
    for (const f of all.filter((p) => p.endsWith("index.ts") && !p.includes("/methods/"))) {
      const lines = readFileSync(f, "utf8").split("\n").filter((l) => l.trim() && !l.trim().startsWith("//"));
      for (const l of lines) expect(l, f).toMatch(/^export (\*|\{|type \{)/);
    }
  });
});
