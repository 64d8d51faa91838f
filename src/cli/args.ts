// A small declarative argument parser for the CLI (the core has no access to node:util).
import { AmalgamError } from "../errors.ts";

export interface FlagSpec {
  readonly name: string;
  readonly kind: "boolean" | "string" | "count";
  readonly short?: string;
  readonly help: string;
  /** For booleans: also accept --no-<name>. */
  readonly negatable?: boolean;
  readonly default?: boolean | string | number;
  /** Accepted for MergeKit compatibility, with this note printed when used. */
  readonly ignoredNote?: string;
  readonly valueName?: string;
  /** For strings: the flag may repeat; its value is the list of every occurrence. */
  readonly multiple?: boolean;
}

export interface ParsedArgs {
  readonly positionals: readonly string[];
  readonly flags: Readonly<Record<string, boolean | string | number | readonly string[] | undefined>>;
  readonly notes: readonly string[];
}

export function parseArgs(argv: readonly string[], specs: readonly FlagSpec[], command: string): ParsedArgs {
  const flags: Record<string, boolean | string | number | readonly string[] | undefined> = {};
  for (const s of specs) flags[s.name] = s.default;
  const positionals: string[] = [];
  const notes: string[] = [];
  const byName = new Map(specs.map((s) => [s.name, s]));
  const byShort = new Map(specs.filter((s) => s.short).map((s) => [s.short!, s]));
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "--") {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    let spec: FlagSpec | undefined;
    let negated = false;
    let inline: string | undefined;
    if (a.startsWith("--")) {
      let name = a.slice(2);
      const eq = name.indexOf("=");
      if (eq >= 0) {
        inline = name.slice(eq + 1);
        name = name.slice(0, eq);
      }
      spec = byName.get(name);
      if (!spec && name.startsWith("no-")) {
        spec = byName.get(name.slice(3));
        if (spec && !(spec.kind === "boolean" && spec.negatable)) spec = undefined;
        negated = spec !== undefined;
      }
      if (!spec) throw new AmalgamError("E_ARGS", `${command}: unknown option ${a}; see "amalgam ${command} --help"`);
    } else if (/^-[A-Za-z]+$/.test(a)) {
      const letters = a.slice(1);
      for (const ch of letters) {
        const s = byShort.get(ch);
        if (!s) throw new AmalgamError("E_ARGS", `${command}: unknown option -${ch}; see "amalgam ${command} --help"`);
        if (s.kind === "count") flags[s.name] = ((flags[s.name] as number | undefined) ?? 0) + 1;
        else if (s.kind === "boolean") flags[s.name] = true;
        else if (letters.length === 1) {
          spec = s;
        } else throw new AmalgamError("E_ARGS", `${command}: -${ch} takes a value and cannot be combined`);
      }
      if (!spec) continue;
    } else {
      positionals.push(a);
      continue;
    }
    if (spec.ignoredNote) notes.push(`note: ${a} ${spec.ignoredNote}`);
    if (spec.kind === "boolean") {
      if (inline !== undefined) throw new AmalgamError("E_ARGS", `${command}: --${spec.name} takes no value`);
      flags[spec.name] = !negated;
    } else if (spec.kind === "count") {
      flags[spec.name] = ((flags[spec.name] as number | undefined) ?? 0) + 1;
    } else {
      const v = inline ?? argv[++i];
      if (v === undefined) throw new AmalgamError("E_ARGS", `${command}: --${spec.name} needs a value${spec.valueName ? ` (${spec.valueName})` : ""}`);
      flags[spec.name] = spec.multiple ? [...((flags[spec.name] as readonly string[] | undefined) ?? []), v] : v;
    }
  }
  return { positionals, flags, notes };
}

/** MergeKit's parse_kmb: an integer with an optional K (1e3), M (1e6) or B (1e9) suffix. */
export function parseSize(text: string, flag: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([KkMmBb]?)\s*$/.exec(text);
  if (!m) throw new AmalgamError("E_ARGS", `${flag}: expected a number of bytes with an optional K, M or B suffix (e.g. 5B, 500M), got "${text}"`);
  const mult = { "": 1, k: 1e3, m: 1e6, b: 1e9 }[m[2]!.toLowerCase() as "" | "k" | "m" | "b"];
  return Math.round(Number(m[1]) * mult);
}

export function formatHelp(usage: string, summary: string, specs: readonly FlagSpec[]): string {
  const rows = specs.map((s) => {
    let left = `--${s.negatable ? `[no-]` : ""}${s.name}`;
    if (s.short) left = `-${s.short}, ${left}`;
    if (s.kind === "string") left += ` ${s.valueName ?? "VALUE"}`;
    return [left, s.help] as const;
  });
  const w = Math.max(...rows.map((r) => r[0].length), 10);
  return `Usage: ${usage}\n\n${summary}\n\nOptions:\n${rows.map(([l, h]) => `  ${l.padEnd(w)}  ${h}`).join("\n")}\n`;
}
