import type { DType } from "../dtype.ts";
import type { F32Buf, Kernels } from "../kernels/kernels.ts";

/** A parameter a method declares. `default: undefined` with `required` means the config must set it. */
export interface ParamSpec {
  readonly name: string;
  readonly default?: number;
  readonly required?: boolean;
}

/** Resolved parameter values for one tensor (undefined = not set and no default). */
export type ParamValues = Readonly<Record<string, number | undefined>>;

/** One input of a tensor merge: a working tensor already cast to the working dtype. */
export interface MergeInput {
  readonly buf: F32Buf;
  readonly shape: readonly number[];
  /** The shape stored in the model, before any embedding rectification cut it to `shape` (absent: `shape`). */
  readonly sourceShape?: readonly number[];
  /** Per-model parameters for this input. */
  readonly params: ParamValues;
  readonly isBase: boolean;
  /** The model reference as written in the config (for warnings). */
  readonly model: string;
}

export interface MergeContext {
  readonly kernels: Kernels;
  /** Output tensor name. */
  readonly tensor: string;
  /** Output shape (see MethodDef.outputShape). */
  readonly shape: readonly number[];
  readonly numel: number;
  /** Working dtype and its rounding mode for the kernels. */
  readonly dtype: DType;
  readonly mode: number;
  /** Inputs in MergeKit's order: config order, base last when it is not listed. */
  readonly inputs: readonly MergeInput[];
  /** Index of the base model's input, if there is one. */
  readonly baseIndex: number | undefined;
  readonly global: ParamValues;
  /** Whether this is an embedding-like weight (vocabulary rows). */
  readonly isEmbed: boolean;
  /** --random-seed (0 when not given); see docs/random.md and src/random/stream-key.ts. */
  readonly seed: number;
  /** Index of each input in MergeKit's model order (the model index of random streams). */
  readonly modelIndices: readonly number[];
  /** --fix-quirks: apply the documented fixes instead of reproducing MergeKit's quirks. */
  readonly fixQuirks: boolean;
  /** A one-off warning (printed once per distinct message). */
  warn(message: string): void;
  /**
   * Records that a MergeKit quirk applied (or was fixed) on this tensor. The executor prints one
   * warning per quirk id at the end, naming every tensor affected.
   */
  quirk(id: string, description: string): void;
}

/** An input of `mergeStored`: bytes as stored in the checkpoint. */
export interface StoredInput {
  readonly ptr: number;
  readonly dtype: DType;
  readonly params: ParamValues;
  readonly isBase: boolean;
  readonly model: string;
}

export interface StoredMergeContext {
  readonly kernels: Kernels;
  readonly tensor: string;
  readonly numel: number;
  readonly dtype: DType;
  readonly mode: number;
  readonly inputs: readonly StoredInput[];
  readonly global: ParamValues;
  /** Where the output goes, stored as `outDtype`. */
  readonly out: number;
  readonly outDtype: DType;
}

/** Plain data that survives JSON (tile jobs go to worker threads as JSON). */
export type JsonValue = number | string | boolean | null | readonly JsonValue[] | { readonly [key: string]: JsonValue };

/** An input of a streamed tensor as the planner knows it (no data). */
export interface StreamInput {
  /** The shape stored in the model; a streamed tile reads the same flat range of every input. */
  readonly shape: readonly number[];
  readonly dtype: DType;
  readonly params: ParamValues;
  readonly isBase: boolean;
  readonly model: string;
}

/** What a streamed method's driver gets on the main thread (see src/executor/streamed.ts). */
export interface StreamBeginContext extends Omit<MergeContext, "inputs"> {
  readonly inputs: readonly StreamInput[];
  /** Elements per tile (a multiple of 64; the last tile may be shorter) and the number of tiles. */
  readonly tileElements: number;
  readonly tiles: number;
  /** Bytes of main-thread memory the driver may hold for statistics (e.g. per-tile histograms). */
  readonly statsBytes: number;
  /**
   * Whether the tiles of these inputs would stay in memory across passes (StreamTileContext.kept),
   * so that a pass after the first reads no file.
   */
  keeps(inputs: readonly number[]): boolean;
  /**
   * Hints a driver leaves for later tensors of the same merge (e.g. where a selection's boundary
   * fell, for the next layer's tensor of the same name): they may only change how much work a
   * tensor takes, never its bytes.
   */
  readonly hints: Map<string, JsonValue>;
}

/** One pass over the tiles of a tensor. */
export interface StreamPass {
  /** Data of every tile job of the pass (`StreamTileContext.data`). */
  readonly data: JsonValue;
  /**
   * Optional first step on each tile, before the main step: its results (written by the job to
   * memory the driver allocated) are read in tile order by `tileData`.
   */
  readonly pre?: JsonValue;
  /** u32 then u64 words of the per-thread accumulator the tile jobs add into (zeroed before the pass). */
  readonly acc32: number;
  readonly acc64: number;
  /** The last pass: the main step writes the tile's output. */
  readonly final: boolean;
  /** What the method calls this pass (MergeOptions.onStreamPass). */
  readonly name?: string;
}

/** A streamed merge of one tensor, on the main thread: which passes to run, given what they found. */
export interface StreamDriver {
  /** The inputs (indices) whose tiles the jobs read; the others are not read. */
  readonly inputs: readonly number[];
  /**
   * The next pass. `acc` is the previous pass's accumulator summed over threads (main-thread
   * memory, 8-byte aligned u64 words after the u32 words), undefined before the first pass.
   */
  next(acc: number | undefined): StreamPass;
  /** Per-tile data of the main step, asked in tile order once the tile's pre step is done. */
  tileData?(tile: number): JsonValue;
}

/** One step of a pass on one tile, on any thread: the output may not depend on which. */
export interface StreamTileContext {
  /** This thread's scratch allocator (reset per job; the accumulator is below it). */
  readonly kernels: Kernels;
  readonly tensor: string;
  /** Elements in this tile, the tile's index and its first element within the tensor. */
  readonly numel: number;
  readonly tile: number;
  readonly offset: number;
  readonly dtype: DType;
  readonly mode: number;
  /** Stored bytes of this tile of each input. */
  readonly inputs: readonly StoredInput[];
  readonly baseIndex: number | undefined;
  readonly global: ParamValues;
  readonly seed: number;
  readonly modelIndices: readonly number[];
  readonly fixQuirks: boolean;
  readonly step: "pre" | "main";
  readonly data: JsonValue;
  readonly tileData: JsonValue;
  /** This thread's accumulator (StreamPass.acc32/acc64 words, zeroed before the pass). */
  readonly acc: number;
  /** Final pass: where the encoded output tile goes. */
  readonly out: number;
  readonly outDtype: DType;
  /**
   * The inputs' tiles stay in memory across passes (they fit the cache budget): "write" in the
   * first of several passes, where the method may overwrite a tile's stored bytes with anything of
   * the same layout that later passes need instead (their task vectors); "read" in the later
   * passes; undefined when every pass reads the files again.
   */
  readonly kept?: "write" | "read";
}

/** A merge in passes over tiles read by byte range, for tensors too large to hold whole. */
export interface StreamedMethod {
  /**
   * Per-thread bytes the tile jobs need besides chunk buffers of CHUNK_ELEMENTS elements per
   * input: the largest accumulator of any pass plus kernel scratch, for `inputs` inputs.
   */
  accBytes(inputs: number): number;
  /**
   * The tile size for a tensor of `shape` given the executor's `tile` (a multiple of 64): a
   * smaller size whose tiles hold whole rows, or 0 to decline (the tensor is merged whole).
   * Default: `tile`.
   */
  alignTile?(shape: readonly number[], tile: number): number;
  /** Starts one tensor; undefined declines (the tensor is merged whole). */
  begin(ctx: StreamBeginContext): StreamDriver | undefined;
  /** Runs one step of a pass on one tile. */
  tile(ctx: StreamTileContext): void;
}

/** What the planner tells a method about one output tensor before any data is read. */
export interface PlanContext {
  readonly tensor: string;
  readonly shapes: readonly (readonly number[])[];
  readonly models: readonly string[];
  readonly baseIndex: number | undefined;
  readonly isEmbed: boolean;
}

/**
 * A merge method: its name, its parameters declared as data, and a function over one tensor's
 * inputs. Add a method by adding one file that default-exports `defineMethod({...})` and listing
 * it in registry.ts.
 */
export interface MethodDef {
  readonly name: string;
  /** How MergeKit's model card names it ("[Linear](https://arxiv.org/abs/2203.05482)"). */
  readonly cardName: string;
  /** Whether the method uses base_model (the card then says "using X as a base"). */
  readonly base: "required" | "optional" | "unused";
  /** False when MergeKit's card does not say "using X as a base" although a base is used (slerp). */
  readonly cardShowsBase?: boolean;
  readonly global: readonly ParamSpec[];
  readonly perModel: readonly ParamSpec[];
  /**
   * The working dtype when the config sets no `dtype:` and the inputs are stored in different
   * dtypes: "promote" (torch's promotion, bf16 with f16 gives f32; the default) or "base" (cast every
   * input to the base model's dtype, as the task-arithmetic family does).
   */
  readonly mixedDtype?: "promote" | "base";
  /**
   * Output dtype given the working dtype (default: the working dtype). `fixQuirks` is
   * --fix-quirks, for methods whose MergeKit output dtype is a quirk.
   */
  outputDtype?(working: DType, fixQuirks: boolean): DType;
  /** Output shape, or an error; default: all shapes equal, or embedding rectification. */
  outputShape?(ctx: PlanContext): readonly number[];
  /**
   * True when output element i depends only on input elements i (and parameters): the executor may
   * then run `merge` on tiles of a tensor, in any order and on any thread, with the same bytes.
   */
  readonly elementwise?: boolean;
  merge(ctx: MergeContext): F32Buf;
  /**
   * Optional one-pass path for elementwise methods: read the stored input bytes and write the stored
   * output bytes in one kernel call (same bytes as `merge`). Returns false to decline.
   */
  mergeStored?(ctx: StoredMergeContext): boolean;
  /**
   * Optional streamed path: the executor uses it for tensors whose whole-tensor working set would
   * exceed the memory budget (src/executor/streamed.ts). Same bytes as `merge`.
   */
  readonly streamed?: StreamedMethod;
}

export function defineMethod(def: MethodDef): MethodDef {
  return def;
}
