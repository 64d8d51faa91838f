// An architecture's tensor layout: which weights come before the layers (embeddings), which
// repeat per layer, which come after (final norm, output head), and where config.json keeps the
// layer count. The layouts themselves are data (src/arch/data/*.json), written from the tensor
// names Transformers saves.

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

export interface ArchitectureDef {
  /** Where the definition came from, for messages (`src/arch/data/llama.json`). */
  readonly source: string;
  readonly modelType: string;
  /** config.json `architectures[0]` values this layout describes. */
  readonly architectures: readonly string[];
  /** config.json key holding the number of layers. */
  readonly layerCountKey: string;
  /** config.json key holding the number of experts, for templates that use `${expert_index}`. */
  readonly expertCountKey: string | undefined;
  readonly preWeights: readonly WeightInfo[];
  readonly layerWeights: readonly WeightInfo[];
  readonly postWeights: readonly WeightInfo[];
}
