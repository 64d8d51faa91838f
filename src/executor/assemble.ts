// The last step of a merge split into parts: once every part's shards and manifest are in the
// output directory, write what a one-process merge writes besides the shards.
import { parseMergeConfig } from "../config/parse-config.ts";
import { AmalgamError } from "../errors.ts";
import type { OutputSink, ResolveModel } from "../io/storage.ts";
import { writeModelFiles } from "../output/model-files.ts";
import { buildPlan } from "../plan/build-plan.ts";
import { checkParts } from "./parts.ts";
import { checkOutputOutsideInputs } from "../output/output-dir.ts";
import type { PartManifest } from "./parts.ts";

export interface AssembleOptions {
  readonly resolveModel: ResolveModel;
  readonly sink: OutputSink;
  readonly manifests: readonly PartManifest[];
}

export async function assembleOutput(options: AssembleOptions): Promise<{ files: string[]; parts: number }> {
  const first = options.manifests[0];
  if (!first) throw new AmalgamError("E_OUTPUT", "no part manifests (amalgam-part-I-of-N.json) found in the output directory");
  const config = parseMergeConfig(first.config, "mergekit_config.yml (from the part manifest)");
  const plan = await buildPlan(config, { resolveModel: options.resolveModel, outShardSize: first.options.outShardSize, fixQuirks: first.options.fixQuirks, allowCrimes: first.options.allowCrimes ?? false });
  const parts = checkParts(plan, options.manifests);
  try {
    checkOutputOutsideInputs(options.sink.localPath, plan.models);
    const files = await writeModelFiles(plan, options.sink, first.options);
    await options.sink.commit();
    return { files, parts };
  } catch (e) {
    await options.sink.abort().catch(() => {});
    throw e;
  } finally {
    for (const m of plan.models) await m.files.dir.close?.();
  }
}
