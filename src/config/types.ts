import type { DType } from "../dtype.ts";
import type { Pos } from "./yaml-tree.ts";

/** A number or a gradient list (piecewise-linear over a slice's layers). */
export type ScalarOrGradient = number | readonly number[];

export interface ConditionalParameter {
  readonly value: ScalarOrGradient;
  /** Substring of the tensor name; undefined or "*" match everything. */
  readonly filter: string | undefined;
}

/** `ParameterSetting` of MergeKit: a value, a gradient, or a list of filtered values. */
export type ParameterSetting =
  | { readonly kind: "value"; readonly value: ScalarOrGradient }
  | { readonly kind: "conditional"; readonly items: readonly ConditionalParameter[] };

export interface ParameterEntry {
  readonly setting: ParameterSetting;
  /** Config path of the setting, for messages (`models[0].parameters.weight`). */
  readonly path: string;
  readonly pos: Pos | undefined;
}

export type ParameterMap = ReadonlyMap<string, ParameterEntry>;

/** `path[@revision][+lora[@revision]]`. */
export interface ModelRef {
  readonly path: string;
  readonly revision: string | undefined;
  readonly lora: { readonly path: string; readonly revision: string | undefined } | undefined;
  /** The reference as written in the config. */
  readonly text: string;
}

export interface SourceConfig {
  readonly model: ModelRef;
  /** [start, end) or undefined (all layers). */
  readonly layerRange: readonly [number, number] | undefined;
  readonly parameters: ParameterMap;
  readonly path: string;
  /** Where the source (or `models` entry) starts in the YAML, for messages. */
  readonly pos?: Pos;
}

export interface SliceConfig {
  readonly sources: readonly SourceConfig[];
  readonly baseModel: ModelRef | undefined;
  readonly parameters: ParameterMap;
  readonly path: string;
  readonly pos?: Pos;
}

export interface MergeConfig {
  readonly mergeMethod: string;
  /** Where `merge_method` is in the YAML, for messages. */
  readonly methodPos?: Pos;
  /** Exactly one of models / slices / modules is set. */
  readonly models: readonly SourceConfig[] | undefined;
  readonly slices: readonly SliceConfig[] | undefined;
  /** `modules:` of multi-module architectures, by module name. */
  readonly modules: ReadonlyMap<string, ModuleConfig> | undefined;
  readonly baseModel: ModelRef | undefined;
  readonly dtype: DType | undefined;
  readonly outDtype: DType | undefined;
  readonly parameters: ParameterMap;
  /** `tokenizer:` or the legacy `tokenizer_source:`; undefined keeps the donor's tokenizer (no vocabulary merging). */
  readonly tokenizer: TokenizerConfig | undefined;
  /** `chat_template:` as written: "auto", a built-in name or a Jinja template. */
  readonly chatTemplate: string | undefined;
  /** The config text as given (written to mergekit_config.yml and the model card). */
  readonly text: string;
  /** Where the config came from, for messages. */
  readonly file: string;
}

/** Where an added or overridden token's embedding row comes from (`tokenizer.tokens.<tok>.source`). */
export type TokenSource =
  /** The same token's row in this model. */
  | { readonly kind: "model"; readonly model: ModelRef }
  /** Another token's row in this model, by token text or by the model's own id. */
  | { readonly kind: "model_token"; readonly model: ModelRef; readonly token: string | undefined; readonly tokenId: number | undefined }
  | { readonly kind: "zero" };

export interface TokenEmbeddingConfig {
  /** Undefined: the automatic rule (one model's row, the base's, or the mean). */
  readonly source: TokenSource | undefined;
  /** Every model takes the default row, even those that have the token. */
  readonly force: boolean;
  readonly path: string;
}

/** MergeKit's `TokenizerConfig`: the output vocabulary and how embedding rows are filled. */
export interface TokenizerConfig {
  readonly source: { readonly kind: "union" } | { readonly kind: "base" } | { readonly kind: "model"; readonly model: ModelRef };
  readonly tokens: ReadonlyMap<string, TokenEmbeddingConfig>;
  readonly padToMultipleOf: number | undefined;
  /** Config path, for messages (`tokenizer` or `tokenizer_source`). */
  readonly path: string;
}

/** One module of a `modules:` config: its own models or slices, and parameters between slice and top level. */
export interface ModuleConfig {
  /** Exactly one of models / slices is set. */
  readonly models: readonly SourceConfig[] | undefined;
  readonly slices: readonly SliceConfig[] | undefined;
  readonly parameters: ParameterMap;
  readonly path: string;
}
