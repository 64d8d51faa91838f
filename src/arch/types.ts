// An architecture's tensor layout, as one or more modules (a text decoder; a vision tower, a
// projector and a text decoder; an encoder and a decoder). Each module has the weights before its
// layers (embeddings), the weights of each layer, the weights after them (final norm, output
// head), and the config.json key of its layer count. The layouts themselves are data
// (src/arch/data/*.json), written from the tensor names Transformers saves.

/** One weight of a layout. Layer weights are templates over `${layer_index}` (and `${expert_index}`). */
export interface WeightInfo {
  readonly name: string;
  /** Vocabulary rows (input embeddings, output head): cropped or permuted when vocabularies differ. */
  readonly isEmbed: boolean;
  /** Not every checkpoint has it: emitted only when an input has it. */
  readonly optional: boolean;
  /** Other names a checkpoint may store it under (tried in order after `name`). */
  readonly aliases: readonly string[];
  /** Weights it is tied to: a model without this weight contributes the first of these it has. */
  readonly tiedNames: readonly string[];
}

export interface ModuleDef {
  /** "default" for single-module architectures; the `modules:` key of a config otherwise. */
  readonly name: string;
  /** config.json key (dotted for nested objects: `text_config.num_hidden_layers`); undefined: no layers. */
  readonly layerCountKey: string | undefined;
  /** config.json key holding the number of experts, for templates that use `${expert_index}`. */
  readonly expertCountKey: string | undefined;
  readonly preWeights: readonly WeightInfo[];
  readonly layerWeights: readonly WeightInfo[];
  readonly postWeights: readonly WeightInfo[];
}

export interface ArchitectureDef {
  /** Where the definition came from, for messages (`src/arch/data/llama.json`). */
  readonly source: string;
  readonly modelType: string;
  /** config.json `architectures[0]` values this layout describes. */
  readonly architectures: readonly string[];
  readonly modules: readonly ModuleDef[];
  /** config.json key (dotted for nested objects) of the vocabulary size. */
  readonly vocabSizeKey: string;
}

/** The module name of single-module architectures. */
export const DEFAULT_MODULE = "default";
