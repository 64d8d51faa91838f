// An intermediate merge that is never written: a ModelDirectory whose files are those the merge
// would write (config.json, index, shard headers, tokenizer files), and whose tensor
// bytes are computed on first read with the executor's own per-tensor merge, so a later stage reads
// exactly the bytes the staged run would have written. Computed tensors are kept until every
// planned read of them is done, then dropped.
import { mergeTensor } from "../executor/merge.ts";
import type { TensorRun } from "../executor/merge.ts";
import { AmalgamError } from "../errors.ts";
import type { Kernels } from "../kernels/kernels.ts";
import { Serial } from "../lora/serial.ts";
import type { ByteSource, FileWriter, ModelDirectory, OutputSink } from "../io/storage.ts";
import { outputModelConfig } from "../output/model-config.ts";
import { shardIndexJson } from "../output/model-files.ts";
import { writeTokenizerFiles } from "../output/tokenizer-files.ts";
import type { MergePlan, PlannedShard, PlannedTensor } from "../plan/types.ts";

interface Region {
  readonly start: number;
  readonly end: number;
  readonly tensor: PlannedTensor;
}

export class VirtualModel implements ModelDirectory {
  private readonly files = new Map<string, Uint8Array>();
  private readonly shards = new Map<string, { shard: PlannedShard; regions: Region[] }>();
  private readonly cache = new Map<string, Promise<Uint8Array>>();
  private readonly expected = new Map<string, number>();
  private readonly readBytes = new Map<string, number>();
  private readonly serial = new Serial();
  /** Tensors computed so far (a tensor computed twice was dropped and read again). */
  computed = 0;

  private constructor(
    readonly ref: string,
    readonly plan: MergePlan,
    private readonly kernels: Kernels,
    private readonly run: TensorRun,
  ) {
    const enc = new TextEncoder();
    this.files.set("config.json", enc.encode(outputModelConfig(plan)));
    if (plan.shards.length > 1) this.files.set("model.safetensors.index.json", enc.encode(shardIndexJson(plan)));
    for (const shard of plan.shards) {
      let at = shard.layout.header.length;
      const regions = shard.tensors.map((tensor, i) => {
        const r = { start: at, end: at + shard.layout.sizes[i]!, tensor };
        at = r.end;
        return r;
      });
      this.shards.set(shard.file, { shard, regions });
    }
  }

  /** A stage's output as a directory; `kernels` must be an instance no one else uses. */
  static async create(ref: string, plan: MergePlan, kernels: Kernels, run: TensorRun, copyTokenizer: boolean): Promise<VirtualModel> {
    const v = new VirtualModel(ref, plan, kernels, run);
    // The tokenizer files exactly as the staged merge writes them (copied, rebuilt or merged).
    await writeTokenizerFiles(plan, memorySink(v.files), { copyTokenizer, onWarning: run.warn });
    return v;
  }

  /** Registers the reads a consumer plan will make of this model's tensors (for eviction). */
  expectReads(consumer: MergePlan): void {
    for (const t of consumer.tensors) {
      for (const s of t.sources) {
        if (s.model.files.dir !== this) continue;
        this.expected.set(s.tensor.name, (this.expected.get(s.tensor.name) ?? 0) + s.tensor.byteLength);
      }
    }
  }

  async has(name: string): Promise<boolean> {
    return this.files.has(name) || this.shards.has(name);
  }

  async readFile(name: string): Promise<Uint8Array> {
    const f = this.files.get(name);
    if (f) return f;
    if (this.shards.has(name)) {
      const src = await this.open(name);
      const b = new Uint8Array(src.size);
      await src.readInto(0, b);
      return b;
    }
    throw new AmalgamError("E_MODEL_NOT_FOUND", `${this.ref}/${name}: not a file of this intermediate merge`);
  }

  async open(name: string): Promise<ByteSource> {
    const small = this.files.get(name);
    if (small) {
      return {
        size: small.length,
        readInto: async (offset: number, dest: Uint8Array) => {
          if (offset < 0 || offset + dest.length > small.length) throw new AmalgamError("E_IO", `${this.ref}/${name}: read of ${dest.length} bytes at ${offset} is outside the ${small.length}-byte file`);
          dest.set(small.subarray(offset, offset + dest.length));
        },
      };
    }
    const entry = this.shards.get(name);
    if (!entry) throw new AmalgamError("E_MODEL_NOT_FOUND", `${this.ref}/${name}: not a shard of this intermediate merge`);
    const { shard, regions } = entry;
    return {
      size: shard.layout.totalBytes,
      readInto: async (offset: number, dest: Uint8Array) => {
        const end = offset + dest.length;
        if (offset < 0 || end > shard.layout.totalBytes) throw new AmalgamError("E_IO", `${this.ref}/${name}: read of ${dest.length} bytes at ${offset} is outside the ${shard.layout.totalBytes}-byte file`);
        const header = shard.layout.header;
        if (offset < header.length) dest.set(header.subarray(offset, Math.min(end, header.length)), 0);
        for (const r of regions) {
          if (r.end <= offset || r.start >= end || r.start === r.end) continue;
          const from = Math.max(offset, r.start);
          const to = Math.min(end, r.end);
          const bytes = await this.tensorBytes(r.tensor);
          dest.set(bytes.subarray(from - r.start, to - r.start), from - offset);
          this.noteRead(r.tensor.name, to - from);
        }
      },
    };
  }

  async close(): Promise<void> {}

  /** Drops every cached tensor. */
  clear(): void {
    this.cache.clear();
  }

  private noteRead(name: string, n: number): void {
    const want = this.expected.get(name);
    if (want === undefined) return;
    const got = (this.readBytes.get(name) ?? 0) + n;
    this.readBytes.set(name, got);
    if (got >= want) {
      this.cache.delete(name);
      this.readBytes.delete(name);
      this.expected.delete(name);
    }
  }

  private tensorBytes(t: PlannedTensor): Promise<Uint8Array> {
    let p = this.cache.get(t.name);
    if (!p) {
      p = this.serial.run(async () => {
        const r = await mergeTensor(this.kernels, this.plan, t, this.run);
        this.computed++;
        return this.kernels.bytes(r.ptr, r.bytes).slice();
      });
      this.cache.set(t.name, p);
      p.catch(() => this.cache.delete(t.name));
    }
    return p;
  }
}

/** An OutputSink into a map of file name to bytes (a virtual model's side files). */
function memorySink(files: Map<string, Uint8Array>): OutputSink {
  return {
    async create(name: string): Promise<FileWriter> {
      const chunks: Uint8Array[] = [];
      return {
        write: async (c) => { chunks.push(c.slice()); },
        close: async () => {
          const out = new Uint8Array(chunks.reduce((a, c) => a + c.length, 0));
          let at = 0;
          for (const c of chunks) { out.set(c, at); at += c.length; }
          files.set(name, out);
        },
      };
    },
    commit: async () => {},
    abort: async () => {},
  };
}
