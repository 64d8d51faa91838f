// `--json`: newline-delimited JSON events on stdout, one object per line, for apps that embed
// Amalgam. Every event has `type` and `command`; the shapes are in JSON_EVENT_SCHEMA
// (src/inspect/json-event-schema.ts), tested against every command's real output.
import { AmalgamError } from "../errors.ts";
import type { CliHost } from "./host.ts";

/** Bumped when an event changes incompatibly. */
export const JSON_EVENTS_VERSION = 1;

export type CommandName =
  | "merge" | "assemble" | "explain" | "check" | "inspect" | "diff" | "convert"
  | "multi" | "pytorch" | "moe" | "extract-lora";

/** A stage of `amalgam multi`: its name (null for the final, unnamed merge), where it goes, and what happened. */
export interface StageData {
  readonly name: string | null;
  readonly out: string;
  readonly status: "start" | "merged" | "skipped";
}

export interface ProgressData {
  readonly tensorsDone: number;
  readonly tensorsTotal: number;
  readonly bytesDone: number;
  readonly bytesTotal: number;
  readonly tensor: string;
}

export type JsonEvent =
  | { readonly type: "start"; readonly command: CommandName; readonly version: number }
  | { readonly type: "plan"; readonly command: CommandName; readonly data: unknown }
  | ({ readonly type: "progress"; readonly command: CommandName } & ProgressData)
  | { readonly type: "warning"; readonly command: CommandName; readonly message: string }
  | ({ readonly type: "stage"; readonly command: CommandName } & StageData)
  | { readonly type: "result"; readonly command: CommandName; readonly ok: boolean; readonly data: unknown }
  | { readonly type: "error"; readonly command: CommandName; readonly code: string; readonly message: string };

export interface JsonEvents {
  plan(data: unknown): void;
  progress(p: ProgressData): void;
  warning(message: string): void;
  stage(s: StageData): void;
  result(ok: boolean, data: unknown): void;
  error(code: string, message: string): void;
}

/** NaN and infinities have no JSON form: they are written as null. */
function replacer(_key: string, v: unknown): unknown {
  return typeof v === "number" && !Number.isFinite(v) ? null : v;
}

export function jsonEvents(host: CliHost, command: CommandName): JsonEvents {
  const emit = (e: JsonEvent) => host.stdout(JSON.stringify(e, replacer) + "\n");
  emit({ type: "start", command, version: JSON_EVENTS_VERSION });
  return {
    plan: (data) => emit({ type: "plan", command, data }),
    progress: (p) => emit({ type: "progress", command, tensorsDone: p.tensorsDone, tensorsTotal: p.tensorsTotal, bytesDone: p.bytesDone, bytesTotal: p.bytesTotal, tensor: p.tensor }),
    warning: (message) => emit({ type: "warning", command, message }),
    stage: (s) => emit({ type: "stage", command, name: s.name, out: s.out, status: s.status }),
    result: (ok, data) => emit({ type: "result", command, ok, data }),
    error: (code, message) => emit({ type: "error", command, code, message }),
  };
}

/** Runs a command body; with --json, an error also becomes an `error` event before it propagates. */
export async function withJsonErrors<T>(events: JsonEvents | undefined, body: () => Promise<T>): Promise<T> {
  try {
    return await body();
  } catch (e) {
    if (events) {
      if (e instanceof AmalgamError) events.error(e.code, e.message);
      else events.error("E_INTERNAL", (e as Error)?.message ?? String(e));
    }
    throw e;
  }
}
