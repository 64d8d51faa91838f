// `amalgam convert MODEL OUT_DIR --dtype bf16|f16|f32`: re-encode and re-shard a model.
import { parseConfigDType } from "../dtype.ts";
import type { DType } from "../dtype.ts";
import { AmalgamError } from "../errors.ts";
import { Kernels } from "../kernels/kernels.ts";
import { openModelFiles } from "../io/model-files.ts";
import { TOKENIZER_FILES } from "../output/side-files.ts";
import { convertModel, filesToCopy } from "../inspect/convert-model.ts";
import { fmtBytes } from "../inspect/text-table.ts";
import { formatHelp, parseSize } from "./args.ts";
import type { FlagSpec } from "./args.ts";
import { HELP_FLAG, jsonFlag } from "./common-flags.ts";
import type { CliHost } from "./host.ts";
import { progressBar } from "./progress-bar.ts";
import { runCommand } from "./run-command.ts";

/** Files copied from a model that cannot be listed (URLs, hub names) when they exist. */
const KNOWN_FILES: readonly string[] = [...TOKENIZER_FILES, "README.md", "LICENSE", "preprocessor_config.json"];

const FLAGS: readonly FlagSpec[] = [
  { name: "dtype", kind: "string", valueName: "DTYPE", help: "bf16, f16 or f32 (also bfloat16, float16, float32); required" },
  { name: "out-shard-size", kind: "string", valueName: "SIZE", default: "5B", help: "largest output shard in bytes, K/M/B suffixes (default 5B)" },
  { name: "quiet", kind: "boolean", negatable: true, default: false, help: "no progress bar or summary" },
  jsonFlag("progress per tensor, result"),
  HELP_FLAG,
];

export const CONVERT_HELP = formatHelp(
  "amalgam convert MODEL OUT_DIR --dtype bf16|f16|f32 [options]",
  "Re-encode every tensor of a model in another dtype (round to nearest even; tensors already in it are\ncopied byte for byte), re-shard it with --out-shard-size, set the dtype in config.json and copy the\nother files (tokenizer, generation config, ...). Output is atomic, as for merge.",
  FLAGS,
);

export function parseDTypeFlag(text: string): DType {
  const short: Record<string, DType> = { bf16: "BF16", f16: "F16", fp16: "F16", f32: "F32", fp32: "F32" };
  const d = short[text.toLowerCase()];
  if (d) return d;
  try {
    return parseConfigDType(text, "--dtype");
  } catch {
    throw new AmalgamError("E_ARGS", `--dtype: expected bf16, f16 or f32, got "${text}"`);
  }
}

export async function convertCommand(argv: readonly string[], host: CliHost): Promise<number> {
  return runCommand({ name: "convert", flags: FLAGS, help: CONVERT_HELP }, argv, host, async (args, events) => {
    if (args.positionals.length !== 2) throw new AmalgamError("E_ARGS", `convert: expected MODEL and OUT_DIR, got ${args.positionals.length} argument(s); see "amalgam convert --help"`);
    if (args.flags["dtype"] === undefined) throw new AmalgamError("E_ARGS", "convert: --dtype is required (bf16, f16 or f32)");
    const dtype = parseDTypeFlag(String(args.flags["dtype"]));
    const outShardSize = parseSize(String(args.flags["out-shard-size"]), "--out-shard-size");
    const [modelRef, outDir] = args.positionals as [string, string];
    if (modelRef.replace(/[/\\]+$/, "") === outDir.replace(/[/\\]+$/, "")) throw new AmalgamError("E_ARGS", "convert: OUT_DIR must differ from MODEL (the model is read while the output is written)");
    const dir = await host.resolveModel(modelRef);
    try {
      const files = await openModelFiles(dir);
      const listed = await host.listDir(modelRef);
      const candidates = listed.length ? filesToCopy(listed) : KNOWN_FILES;
      const copyFiles: string[] = [];
      for (const f of candidates) if (await dir.has(f)) copyFiles.push(f);
      const bar = progressBar(host, !events && args.flags["quiet"] !== true && host.stderrIsTTY);
      const start = host.now();
      const report = await convertModel({
        kernels: await Kernels.instantiate(await host.loadKernelModule(false)),
        files, sink: await host.createSink(outDir), dtype, outShardSize, copyFiles,
        onProgress: (p) => {
          events?.progress(p);
          bar.draw(p);
        },
      });
      bar.end();
      if (events) events.result(true, { ...report, out: outDir, seconds: (host.now() - start) / 1000 });
      else if (args.flags["quiet"] !== true) {
        host.stderr(`converted ${report.tensors} tensors (${report.converted} re-encoded) of ${modelRef} to ${dtype}: ${fmtBytes(report.bytesIn)} -> ${fmtBytes(report.bytesOut)} in ${report.shards.length} shard${report.shards.length === 1 ? "" : "s"}; wrote ${report.files.join(", ")} to ${outDir}\n`);
      }
      return 0;
    } finally {
      await dir.close?.();
    }
  });
}
