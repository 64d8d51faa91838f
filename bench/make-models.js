#!/usr/bin/env node
// Deterministic TinyLlama-1.1B-shaped bf16 models for the benchmark: a base and three fine-tunes
// (the variants of ../shared/tools/make_models.py: ft_dense, ft_sparse, ft_rows), sharded into
// ~1 GB safetensors files with model.safetensors.index.json and config.json. Written once into
// .cache/bench/models-x<scale>/<variant>/ and reused while the sizes match.
//
//   node bench/make-models.js [--scale N] [--variants base,ft_dense,ft_sparse,ft_rows] [--force] [--quiet]
//
// --scale N multiplies the number of layers (22 -> 22*N); embeddings and lm_head stay the same.
//
// Values (bit-reproducible on any platform, but not the values make_models.py writes):
//   a 32-bit counter-free PRNG (mulberry32) per (seed, stream, tensor) gives 16-bit indices into a
//   65536-entry table of normal quantiles, so a "normal" sample costs half a PRNG call and a load.
//   base      = std * N0 (std 0.02; norms 1 + 0.05 * N0)
//   ft_dense  = base + s * N1
//   ft_sparse = base + [U < 0.1] * s * (2|N2| + 0.5)
//   ft_rows   = rows r % 3 == 0: base - 0.7 s N1 + 0.25 s N3; other rows: base + 0.1 s N3
//   with s = 0.1 * std for matrices and 0.02 for norms; every sum is rounded to bf16 (RNE).
// The models only have to look like checkpoints to the merge (timing), not to a language model.
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, statSync, writeFileSync, writeSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { llamaConfig, llamaTensors, numel, planShards, shardFileName } from "./llama-layout.js";

/** Bumped whenever the bytes written change, so stale caches are regenerated. */
export const GENERATOR_VERSION = 1;
export const VARIANTS = ["base", "ft_dense", "ft_sparse", "ft_rows"];
export const TINYLLAMA = { hidden: 2048, intermediate: 5632, layers: 22, heads: 32, kvHeads: 4, vocab: 32000 };
const SHARD_BYTES = 1_000_000_000;
const SEED = 1234;
const STAMP = ".bench-complete.json";

export const BENCH_ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", ".cache", "bench");

export function modelsDir(scale, root = BENCH_ROOT) {
  return join(root, `models-x${scale}`);
}

// --- architecture (llama-layout.js) -------------------------------------------------------------

export { llamaTensors };

/** safetensors layout: data sorted by name (all BF16), header padded with spaces to 8 bytes. */
function layout(entries) {
  const order = [...entries].sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0));
  const parts = ['"__metadata__":{"format":"pt"}'];
  let off = 0;
  for (const [name, shape] of order) {
    const n = numel(shape) * 2;
    parts.push(`${JSON.stringify(name)}:{"dtype":"BF16","shape":${JSON.stringify(shape)},"data_offsets":[${off},${off + n}]}`);
    off += n;
  }
  const json = Buffer.from(`{${parts.join(",")}}`);
  const padded = Math.ceil(json.length / 8) * 8;
  const header = Buffer.alloc(8 + padded, 0x20);
  header.writeBigUInt64LE(BigInt(padded), 0);
  json.copy(header, 8);
  return { header, order, dataBytes: off, fileBytes: header.length + off };
}

/** What a model directory of this architecture contains: shard files with their sizes. */
export function modelLayout(arch) {
  const shards = planShards(llamaTensors(arch), 2, SHARD_BYTES);
  const files = shards.map((s, i) => ({
    name: shardFileName(i, shards.length),
    ...layout(s),
  }));
  return { files, totalData: files.reduce((a, f) => a + f.dataBytes, 0) };
}

// --- values --------------------------------------------------------------------------------------

function fnv1a32(s) {
  let h = 0x811c9dc5;
  for (const b of Buffer.from(s)) h = Math.imul(h ^ b, 0x01000193) >>> 0;
  return h;
}

/** Acklam's inverse normal CDF (relative error < 1.2e-9), enough for a quantile table. */
function invNorm(p) {
  const a = [-3.969683028665376e1, 2.209460984245205e2, -2.759285104469687e2, 1.38357751867269e2, -3.066479806614716e1, 2.506628277459239];
  const b = [-5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1, -1.328068155288572e1];
  const c = [-7.784894002430293e-3, -3.223964580411365e-1, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
  const d = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416];
  const lo = 0.02425;
  if (p < lo) {
    const q = Math.sqrt(-2 * Math.log(p));
    return (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  }
  if (p > 1 - lo) return -invNorm(1 - p);
  const q = p - 0.5;
  const r = q * q;
  return ((((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q) / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
}

const NORMAL = new Float64Array(65536);
for (let i = 0; i < 65536; i++) NORMAL[i] = invNorm((i + 0.5) / 65536);

function table(f) {
  const t = new Float32Array(65536);
  for (let i = 0; i < 65536; i++) t[i] = f(NORMAL[i]);
  return t;
}

/** f32 -> bf16 with round-to-nearest-even (values here are finite). */
function toBf16(f32, out, n) {
  const u = new Uint32Array(f32.buffer, f32.byteOffset, n);
  for (let i = 0; i < n; i++) {
    const x = u[i];
    out[i] = (x + 0x7fff + ((x >>> 16) & 1)) >>> 16;
  }
}

/** Fills idx with n 16-bit indices from mulberry32 seeded by `seed`. */
function indices(seed, idx, n) {
  let s = seed | 0;
  let i = 0;
  for (; i + 1 < n; i += 2) {
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), s | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    t ^= t >>> 14;
    idx[i] = t & 0xffff;
    idx[i + 1] = t >>> 16;
  }
  if (i < n) {
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), s | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    idx[i] = (t ^ (t >>> 14)) & 0xffff;
  }
  return s;
}

const KINDS = {
  // std 0.02, delta scale s = 0.1 * std
  matrix: { base: table((z) => 0.02 * z), s: 0.002 },
  norm: { base: table((z) => 1 + 0.05 * z), s: 0.02 },
};
for (const k of Object.values(KINDS)) {
  k.dense = table((z) => k.s * z); // s N
  k.sparse = table((z) => k.s * (2 * Math.abs(z) + 0.5)); // s (2|N| + 0.5)
  k.rowsHit = table((z) => 0.25 * k.s * z); // + 0.25 s N3 on rows r % 3 == 0
  k.rowsMiss = table((z) => 0.1 * k.s * z); // + 0.1 s N3 elsewhere
  k.rowsN1 = table((z) => -0.7 * k.s * z); // - 0.7 s N1 on rows r % 3 == 0
}
const SPARSE_CUT = Math.round(0.1 * 65536); // U < 0.1 with a 16-bit uniform

const CHUNK = 1 << 20;

/**
 * Generates one tensor for every requested variant into `outs[v]` (Uint16Array views of the
 * tensor's bytes), chunk by chunk so the scratch arrays stay in cache-sized pieces.
 */
class TensorGen {
  constructor() {
    this.i0 = new Uint16Array(CHUNK);
    this.i1 = new Uint16Array(CHUNK);
    this.i2 = new Uint16Array(CHUNK);
    this.i3 = new Uint16Array(CHUNK);
    this.base = new Float32Array(CHUNK);
    this.val = new Float32Array(CHUNK);
  }

  run(name, shape, variants, outs) {
    const k = shape.length === 1 ? KINDS.norm : KINDS.matrix;
    const cols = shape.length === 1 ? 1 : shape[shape.length - 1];
    const n = numel(shape);
    const want = (v) => variants.includes(v);
    const seeds = {};
    for (const st of ["base", "dense", "sparse_mask", "sparse", "rows"]) seeds[st] = fnv1a32(`${SEED}:${st}:${name}`);
    const rowsPerChunk = Math.max(1, Math.floor(CHUNK / cols));
    const { i0, i1, i2, i3, base, val } = this;
    for (let start = 0; start < n; start += rowsPerChunk * cols) {
      const m = Math.min(rowsPerChunk * cols, n - start);
      seeds.base = indices(seeds.base, i0, m);
      const bt = k.base;
      for (let i = 0; i < m; i++) base[i] = bt[i0[i]];
      // base values are bf16-rounded before any delta is added, as a real fine-tune's base would be
      toBf16(base, i3, m);
      const bb = new Uint32Array(base.buffer, 0, m);
      for (let i = 0; i < m; i++) bb[i] = i3[i] << 16;
      if (want("base")) outs.base.set(i3.subarray(0, m), start);
      const needDense = want("ft_dense") || want("ft_rows");
      if (needDense) seeds.dense = indices(seeds.dense, i1, m);
      if (want("ft_dense")) {
        const t = k.dense;
        for (let i = 0; i < m; i++) val[i] = base[i] + t[i1[i]];
        toBf16(val, outs.ft_dense.subarray(start, start + m), m);
      }
      if (want("ft_sparse")) {
        seeds.sparse_mask = indices(seeds.sparse_mask, i2, m);
        seeds.sparse = indices(seeds.sparse, i3, m);
        const t = k.sparse;
        for (let i = 0; i < m; i++) val[i] = i2[i] < SPARSE_CUT ? base[i] + t[i3[i]] : base[i];
        toBf16(val, outs.ft_sparse.subarray(start, start + m), m);
      }
      if (want("ft_rows")) {
        seeds.rows = indices(seeds.rows, i2, m);
        const { rowsHit, rowsMiss, rowsN1 } = k;
        let row = start / cols;
        for (let off = 0; off < m; off += cols, row++) {
          const end = off + cols;
          if (row % 3 === 0) for (let i = off; i < end; i++) val[i] = base[i] + rowsN1[i1[i]] + rowsHit[i2[i]];
          else for (let i = off; i < end; i++) val[i] = base[i] + rowsMiss[i2[i]];
        }
        toBf16(val, outs.ft_rows.subarray(start, start + m), m);
      }
    }
  }
}

// --- writing -------------------------------------------------------------------------------------

function writeAll(fd, buf) {
  let off = 0;
  while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
}

function writeTokenizer(dir, vocab) {
  const specials = ["<unk>", "<s>", "</s>"];
  const v = {};
  for (let i = 0; i < vocab; i++) v[i < 3 ? specials[i] : i < 259 ? `<0x${(i - 3).toString(16).toUpperCase().padStart(2, "0")}>` : `tok${i}`] = i;
  const tok = {
    version: "1.0", truncation: null, padding: null,
    added_tokens: specials.map((s, id) => ({ id, content: s, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true })),
    normalizer: null, pre_tokenizer: { type: "Whitespace" }, post_processor: null, decoder: null,
    model: { type: "WordLevel", vocab: v, unk_token: "<unk>" },
  };
  writeFileSync(join(dir, "tokenizer.json"), JSON.stringify(tok));
  writeFileSync(join(dir, "tokenizer_config.json"), JSON.stringify({ tokenizer_class: "PreTrainedTokenizerFast", bos_token: "<s>", eos_token: "</s>", unk_token: "<unk>", model_max_length: 2048, clean_up_tokenization_spaces: false }, null, 2));
  writeFileSync(join(dir, "special_tokens_map.json"), JSON.stringify({ bos_token: "<s>", eos_token: "</s>", unk_token: "<unk>" }, null, 2));
  writeFileSync(join(dir, "generation_config.json"), JSON.stringify({ bos_token_id: 1, eos_token_id: 2, transformers_version: "4.46.0" }, null, 2));
}

function stampFor(arch, lay, variant) {
  return { generator: GENERATOR_VERSION, seed: SEED, variant, arch, files: Object.fromEntries(lay.files.map((f) => [f.name, f.fileBytes])) };
}

/** True when `dir` holds a complete model written by this generator version for `arch`. */
function isComplete(dir, arch, lay, variant) {
  try {
    const stamp = JSON.parse(readFileSync(join(dir, STAMP), "utf8"));
    if (JSON.stringify(stamp) !== JSON.stringify(stampFor(arch, lay, variant))) return false;
    return lay.files.every((f) => statSync(join(dir, f.name)).size === f.fileBytes) && existsSync(join(dir, "config.json"));
  } catch {
    return false;
  }
}

/**
 * Makes sure `.cache/bench/models-x<scale>/<variant>` exists for each variant; generates the
 * missing ones in one pass (shared base values). Returns { dir, arch, layout, dirs: {variant: path} }.
 */
export function ensureModels({ scale = 1, variants = VARIANTS, force = false, root = BENCH_ROOT, log = console.error } = {}) {
  if (!Number.isInteger(scale) || scale < 1) throw new Error(`--scale: expected a positive integer, got ${scale}`);
  for (const v of variants) if (!VARIANTS.includes(v)) throw new Error(`unknown variant "${v}"; expected one of ${VARIANTS.join(", ")}`);
  const arch = { ...TINYLLAMA, layers: TINYLLAMA.layers * scale };
  const lay = modelLayout(arch);
  const dir = modelsDir(scale, root);
  const dirs = Object.fromEntries(variants.map((v) => [v, join(dir, v)]));
  const todo = variants.filter((v) => force || !isComplete(dirs[v], arch, lay, v));
  if (todo.length === 0) return { dir, arch, layout: lay, dirs, generated: [] };

  const gb = (lay.totalData / 1e9).toFixed(2);
  log(`generating ${todo.join(", ")} (TinyLlama shape x${scale}: ${arch.layers} layers, ${gb} GB each, ${lay.files.length} shards) in ${dir}`);
  const t0 = performance.now();
  const tmp = Object.fromEntries(todo.map((v) => [v, `${dirs[v]}.partial-${process.pid}`]));
  for (const v of todo) {
    rmSync(tmp[v], { recursive: true, force: true });
    mkdirSync(tmp[v], { recursive: true });
  }
  const gen = new TensorGen();
  let maxBytes = 0;
  for (const f of lay.files) for (const [, shape] of f.order) maxBytes = Math.max(maxBytes, numel(shape) * 2);
  const bufs = Object.fromEntries(todo.map((v) => [v, Buffer.allocUnsafe(maxBytes)]));
  const weightMap = {};
  for (const f of lay.files) {
    const fds = Object.fromEntries(todo.map((v) => [v, openSync(join(tmp[v], f.name), "w")]));
    for (const v of todo) writeAll(fds[v], f.header);
    for (const [name, shape] of f.order) {
      const bytes = numel(shape) * 2;
      const outs = Object.fromEntries(todo.map((v) => [v, new Uint16Array(bufs[v].buffer, bufs[v].byteOffset, bytes / 2)]));
      gen.run(name, shape, todo, outs);
      for (const v of todo) writeAll(fds[v], bufs[v].subarray(0, bytes));
      weightMap[name] = f.name;
    }
    for (const v of todo) closeSync(fds[v]);
    log(`  ${f.name} (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
  }
  const ordered = {};
  for (const [name] of llamaTensors(arch)) ordered[name] = weightMap[name];
  for (const v of todo) {
    if (lay.files.length > 1) {
      writeFileSync(join(tmp[v], "model.safetensors.index.json"), JSON.stringify({ metadata: { total_size: lay.totalData }, weight_map: ordered }, null, 2));
    }
    writeFileSync(join(tmp[v], "config.json"), JSON.stringify(llamaConfig(arch, "bfloat16"), null, 2));
    writeTokenizer(tmp[v], arch.vocab);
    writeFileSync(join(tmp[v], STAMP), JSON.stringify(stampFor(arch, lay, v)));
    rmSync(dirs[v], { recursive: true, force: true });
    renameSync(tmp[v], dirs[v]);
  }
  const s = (performance.now() - t0) / 1000;
  log(`generated ${todo.length} model(s) in ${s.toFixed(1)} s (${((todo.length * lay.totalData) / 1e9 / s).toFixed(2)} GB/s written)`);
  return { dir, arch, layout: lay, dirs, generated: todo };
}

function parseArgs(argv) {
  const o = { scale: 1, variants: VARIANTS, force: false, quiet: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--scale") o.scale = Number(argv[++i]);
    else if (a === "--variants") o.variants = String(argv[++i]).split(",").filter(Boolean);
    else if (a === "--force") o.force = true;
    else if (a === "--quiet") o.quiet = true;
    else if (a === "--help" || a === "-h") {
      console.log("usage: node bench/make-models.js [--scale N] [--variants base,ft_dense,ft_sparse,ft_rows] [--force] [--quiet]");
      process.exit(0);
    } else throw new Error(`unknown argument ${a}`);
  }
  return o;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  try {
    const o = parseArgs(process.argv.slice(2));
    const r = ensureModels({ scale: o.scale, variants: o.variants, force: o.force, log: o.quiet ? () => {} : console.error });
    if (r.generated.length === 0 && !o.quiet) console.error(`up to date: ${Object.values(r.dirs).join(", ")}`);
  } catch (e) {
    console.error(`make-models: ${e.message}`);
    process.exit(1);
  }
}
