import type { MergeConfig, ModelRef } from "../config/types.ts";
import type { DType } from "../dtype.ts";
import type { ModelFiles, ModelTensor } from "../io/model-files.ts";
import type { FileLayout } from "../io/safetensors-writer.ts";
import type { MethodDef, ParamValues } from "../methods/types.ts";
import type { ModelStructure } from "./structure.ts";
import type { OutputTokenizer } from "../tokenizer/build-vocabulary.ts";

export interface LoadedModel {
  readonly ref: ModelRef;
  readonly files: ModelFiles;
  readonly structure: ModelStructure;
}

export interface PlannedSource {
  readonly model: LoadedModel;
  /** The input tensor read for this source (after tied-name fallback). */
  readonly tensor: ModelTensor;
  readonly isBase: boolean;
  readonly params: ParamValues;
}

export type TensorRole = "pre" | "layer" | "post";

export interface PlannedTensor {
  readonly name: string;
  readonly role: TensorRole;
  /** Position in its slice's gradient (0 for pre and post weights). */
  readonly t: number;
  readonly sources: readonly PlannedSource[];
  readonly baseIndex: number | undefined;
  readonly global: ParamValues;
  readonly isEmbed: boolean;
  readonly shape: readonly number[];
  readonly workingDtype: DType;
  readonly outDtype: DType;
}

export interface PlannedShard {
  readonly file: string;
  /** Tensors in the order their data is laid out (and computed). */
  readonly tensors: readonly PlannedTensor[];
  readonly layout: FileLayout;
}

export interface MergePlan {
  readonly config: MergeConfig;
  readonly method: MethodDef;
  /** Every referenced model, config order, base last. */
  readonly models: readonly LoadedModel[];
  readonly base: LoadedModel | undefined;
  /** The model whose config.json and tokenizer are copied. */
  readonly donor: LoadedModel;
  /** Output layers over all modules. */
  readonly numLayers: number;
  /** Output layers of each module, and the config.json key (dotted when nested) that holds them. */
  readonly layerCounts: readonly LayerCount[];
  /** Tensors in write order (the order of the index's weight_map). */
  readonly tensors: readonly PlannedTensor[];
  readonly shards: readonly PlannedShard[];
  /** Bytes of tensor data in the output. */
  readonly totalBytes: number;
  readonly warnings: readonly string[];
  /** The merged vocabulary's tokenizer (`tokenizer:` / `tokenizer_source:`), written instead of the donor's. */
  readonly tokenizer: OutputTokenizer | undefined;
  /** The chat template to write (`chat_template:` resolved and checked), if any. */
  readonly chatTemplate: string | undefined;
}

export interface LayerCount {
  readonly module: string;
  readonly key: string | undefined;
  readonly count: number;
}
