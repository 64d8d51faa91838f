// The merge configs the benchmarks run, over the generated models (absolute paths).
export const FINETUNES = ["ft_dense", "ft_sparse", "ft_rows"];

/** linear of the three fine-tunes, weights 0.5/0.3/0.2, bf16 math. */
export function linearYaml(dirs) {
  const w = [0.5, 0.3, 0.2];
  return ["merge_method: linear", "models:", ...FINETUNES.flatMap((v, i) => [`  - model: ${JSON.stringify(dirs[v])}`, `    parameters: {weight: ${w[i]}}`]), "dtype: bfloat16", ""].join("\n");
}

/** ties of base + the three fine-tunes: weights 0.5/0.3/0.2, densities 0.5/0.7/0.3, bf16 math. */
export function tiesYaml(dirs) {
  const p = [[0.5, 0.5], [0.3, 0.7], [0.2, 0.3]];
  return [
    "merge_method: ties", `base_model: ${JSON.stringify(dirs.base)}`, "models:",
    ...FINETUNES.flatMap((v, i) => [`  - model: ${JSON.stringify(dirs[v])}`, `    parameters: {weight: ${p[i][0]}, density: ${p[i][1]}}`]),
    "dtype: bfloat16", "",
  ].join("\n");
}

/** Model variants each method reads. */
export const METHOD_MODELS = { linear: FINETUNES, ties: ["base", ...FINETUNES] };
export const METHOD_YAML = { linear: linearYaml, ties: tiesYaml };
