// POST /merge: the body is a MergeKit YAML config; the query says where the output goes.
//   ?out=r2://BINDING/prefix  write MergeKit's layout to R2 (multipart, visible only once complete)
//                             and answer with a JSON summary
//   (no out)                  answer with the merged weights as one safetensors file, streamed
// Other parameters: name (model card title), shard_size (e.g. 2B; R2 output only), seed,
// copy_tokenizer=false, model_card=false, memory_budget (bytes of tile buffers).
import { parseSize } from "../../src/cli/args.ts";
import { parseMergeConfig } from "../../src/config/parse-config.ts";
import { AmalgamError } from "../../src/errors.ts";
import type { ErrorCode } from "../../src/errors.ts";
import { merge } from "../../src/executor/merge.ts";
import type { MergeOptions } from "../../src/executor/merge.ts";
import { buildPlan } from "../../src/plan/build-plan.ts";
import { withIsolateKernels } from "./isolate-kernels.ts";
import { bucketOf, parseR2Ref } from "./r2-model.ts";
import { R2OutputSink } from "./r2-sink.ts";
import { workersResolver } from "./resolver.ts";
import { SafetensorsStreamSink } from "./stream-sink.ts";

/** Configs are a few KB; a larger body is a mistake (or an attack), not a config. */
export const MAX_CONFIG_BYTES = 1 << 20;
/** Tile buffers in flight; with the kernels' own memory this keeps wasm memory near 20 MB. */
export const DEFAULT_WORKER_BUDGET = 16_000_000;
/**
 * Wasm memory cap: production isolates have 128 MB for JS heap and wasm together, and local
 * workerd does not enforce it, so the Worker does.
 */
export const DEFAULT_MAX_WASM_BYTES = 96 * 1024 * 1024;
/**
 * The isolate keeps its kernel instance for the next request while the wasm memory is at most this
 * (the default budget's tiles fit); after a merge that grew it further, the memory is let go.
 */
export const KEEP_WASM_BYTES = 32 * 1024 * 1024;
/** Below this the tile buffers (at most half the cap) plus their scratch could pass the cap. */
export const MIN_MAX_WASM_BYTES = 16 * 1024 * 1024;

/** What the Worker reads from its environment (vars, secrets and R2 bindings). */
export interface WorkerEnv {
  readonly [binding: string]: unknown;
  /** When set, requests must carry `Authorization: Bearer <token>`. */
  readonly AMALGAM_TOKEN?: string;
  /** Tile buffer bytes (default 16 MB). */
  readonly AMALGAM_MEMORY_BUDGET?: string;
  /** Wasm memory cap in bytes (default 96 MiB). */
  readonly AMALGAM_MAX_WASM_BYTES?: string;
  /** Token for gated hub models / private URLs. */
  readonly HF_TOKEN?: string;
  readonly HF_ENDPOINT?: string;
}

export interface WaitUntil {
  waitUntil(p: Promise<unknown>): void;
}

/** workerd's stream that announces a Content-Length for a streamed body. */
declare const FixedLengthStream: (new (length: number) => TransformStream<Uint8Array, Uint8Array>) | undefined;

const CLIENT_ERRORS: ReadonlySet<ErrorCode> = new Set(["E_CONFIG", "E_CONFIG_UNKNOWN_KEY", "E_CONFIG_TYPE", "E_UNKNOWN_METHOD", "E_UNSUPPORTED", "E_ARGS", "E_SHAPE", "E_DTYPE", "E_TENSOR_MISSING", "E_MODEL_CONFIG"]);

function statusOf(code: ErrorCode): number {
  if (CLIENT_ERRORS.has(code)) return 400;
  if (code === "E_MODEL_NOT_FOUND") return 404;
  if (code === "E_IO" || code === "E_SAFETENSORS" || code === "E_INDEX" || code === "E_REMOTE" || code === "E_REMOTE_CHANGED") return 502;
  if (code === "E_TIMEOUT") return 504;
  return 500;
}

export function errorResponse(e: unknown): Response {
  const err = e instanceof AmalgamError ? e : new AmalgamError("E_IO", (e as Error)?.message ?? String(e));
  return Response.json({ error: { code: err.code, message: err.message } }, { status: statusOf(err.code) });
}

function intParam(v: string | undefined, name: string, fallback: number): number {
  if (v === undefined || v === "") return fallback;
  const n = parseSize(v, name);
  if (!Number.isSafeInteger(n) || n <= 0) throw new AmalgamError("E_ARGS", `${name}: expected a positive size, got "${v}"`);
  return n;
}

function boolParam(v: string | null, name: string): boolean {
  if (v === null || v === "true" || v === "1") return true;
  if (v === "false" || v === "0") return false;
  throw new AmalgamError("E_ARGS", `${name}: expected true or false, got "${v}"`);
}

async function readConfigText(request: Request): Promise<string> {
  const len = Number(request.headers.get("content-length") ?? 0);
  if (len > MAX_CONFIG_BYTES) throw new AmalgamError("E_ARGS", `config body of ${len} bytes is over the ${MAX_CONFIG_BYTES}-byte limit`);
  const text = await request.text();
  if (text.length > MAX_CONFIG_BYTES) throw new AmalgamError("E_ARGS", `config body is over the ${MAX_CONFIG_BYTES}-byte limit`);
  if (!text.trim()) throw new AmalgamError("E_ARGS", "POST /merge needs a MergeKit YAML config as the request body");
  return text;
}

/** Handles POST /merge with the kernels in `module` (the single-threaded SIMD build). */
export async function handleMerge(request: Request, env: WorkerEnv, ctx: WaitUntil, module: WebAssembly.Module): Promise<Response> {
  const url = new URL(request.url);
  const q = url.searchParams;
  const maxWasmBytes = intParam(env.AMALGAM_MAX_WASM_BYTES, "AMALGAM_MAX_WASM_BYTES", DEFAULT_MAX_WASM_BYTES);
  if (maxWasmBytes < MIN_MAX_WASM_BYTES) throw new AmalgamError("E_ARGS", `AMALGAM_MAX_WASM_BYTES ${maxWasmBytes} is below the minimum of ${MIN_MAX_WASM_BYTES}`);
  const memoryBudget = intParam(q.get("memory_budget") ?? env.AMALGAM_MEMORY_BUDGET, "memory_budget", DEFAULT_WORKER_BUDGET);
  const keepBytes = Math.max(KEEP_WASM_BYTES, 2 * memoryBudget);
  if (memoryBudget > maxWasmBytes / 2) throw new AmalgamError("E_ARGS", `memory_budget ${memoryBudget} is over half the ${maxWasmBytes}-byte wasm memory cap`);
  const out = q.get("out");
  const target = out === null ? undefined : parseR2Ref(out);
  if (out !== null && !target) throw new AmalgamError("E_ARGS", `out=${out}: expected r2://BINDING/prefix (leave out "out" to stream the weights back)`);
  const bucket = target ? bucketOf(env, target.binding, out!) : undefined;
  if (!target && q.has("shard_size")) throw new AmalgamError("E_ARGS", "shard_size applies to R2 output only: a streamed merge is one safetensors file");
  const seedText = q.get("seed");
  const randomSeed = seedText === null ? undefined : Number(seedText);
  if (randomSeed !== undefined && (!Number.isSafeInteger(randomSeed) || randomSeed < 0)) throw new AmalgamError("E_ARGS", `seed: expected a non-negative integer, got "${seedText}"`);
  const config = parseMergeConfig(await readConfigText(request), "request body");
  const resolveModel = workersResolver(env, { token: env.HF_TOKEN, endpoint: env.HF_ENDPOINT });
  const outShardSize = target ? intParam(q.get("shard_size") ?? undefined, "shard_size", 5e9) : Number.MAX_SAFE_INTEGER;
  const signal = (request as Request & { signal?: AbortSignal }).signal;
  const warnings: string[] = [];
  const common: Omit<MergeOptions, "sink" | "kernels" | "plan"> = {
    resolveModel, outShardSize, memoryBudget, randomSeed, signal,
    outputName: q.get("name") ?? (target?.prefix.split("/").pop() || "merge"),
    copyTokenizer: boolParam(q.get("copy_tokenizer"), "copy_tokenizer"),
    writeModelCard: boolParam(q.get("model_card"), "model_card"),
    onWarning: (m) => warnings.push(m),
  };
  const start = Date.now();
  if (target && bucket) {
    const sink = new R2OutputSink(bucket, target.prefix);
    return withIsolateKernels(module, { maxWasmBytes, keepBytes }, async (kernels) => {
      const r = await merge(config, { ...common, sink, kernels });
      return Response.json({
        files: r.files, keys: r.files.map((f) => sink.key(f)), tensors: r.plan.tensors.length, bytes: r.plan.totalBytes,
        wasmMemoryBytes: kernels.memory.buffer.byteLength, peakKernelBytes: r.peakKernelBytes, ms: Date.now() - start, warnings,
      });
    });
  }
  // Streamed: plan first, so config and model errors still get a proper status and JSON.
  const plan = await buildPlan(config, { resolveModel, outShardSize });
  const shard = plan.shards[0];
  if (!shard || plan.shards.length !== 1) throw new AmalgamError("E_OUTPUT", `a streamed merge needs exactly one output file, the plan has ${plan.shards.length}`);
  const length = shard.layout.header.length + shard.layout.sizes.reduce((a, b) => a + b, 0);
  const pipe = typeof FixedLengthStream === "function" ? new FixedLengthStream(length) : new TransformStream<Uint8Array, Uint8Array>();
  const sink = new SafetensorsStreamSink(pipe.writable);
  // only the weights are streamed: skip reading the donor's tokenizer files for nothing
  const streamed = { ...common, copyTokenizer: false, writeModelCard: false, plan, sink };
  const done = withIsolateKernels(module, { maxWasmBytes, keepBytes }, (kernels) => merge(config, { ...streamed, kernels }))
    .catch((e: unknown) => console.error(`amalgam: streamed merge failed: ${(e as Error).message}`));
  ctx.waitUntil(done);
  return new Response(pipe.readable, {
    headers: {
      "content-type": "application/octet-stream",
      "content-length": String(length),
      "content-disposition": `attachment; filename="${shard.file}"`,
      "x-amalgam-tensors": String(plan.tensors.length),
    },
  });
}
