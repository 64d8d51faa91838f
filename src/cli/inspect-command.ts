// `amalgam inspect MODEL_OR_URL`: a model's architecture, layers, tensors, shards, parameter count and
// tokenizer, from headers only (HTTP Range for URLs and hub names).
import { AmalgamError } from "../errors.ts";
import { inspectModel } from "../inspect/model-summary.ts";
import { inspectText } from "../inspect/inspect-text.ts";
import { tensorMatcher } from "../inspect/tensor-pattern.ts";
import { formatHelp } from "./args.ts";
import type { FlagSpec } from "./args.ts";
import { HELP_FLAG, jsonFlag } from "./common-flags.ts";
import type { CliHost } from "./host.ts";
import { runCommand } from "./run-command.ts";

const FLAGS: readonly FlagSpec[] = [
  { name: "tensor", kind: "string", valueName: "PATTERN", help: "list only tensors whose name contains PATTERN (or matches it as a glob)" },
  jsonFlag("the report is the result event"),
  HELP_FLAG,
];

export const INSPECT_HELP = formatHelp(
  "amalgam inspect MODEL_OR_URL [options]",
  "Describe a model: architecture, layer count, tensors with dtypes and shapes (layers folded together\nwhere they agree), shards, parameter count and tokenizer. Reads only config.json, the safetensors\nheaders and the tokenizer files: a local directory, an http(s) URL of a model folder, or org/name[@rev].",
  FLAGS,
);

export async function inspectCommand(argv: readonly string[], host: CliHost): Promise<number> {
  return runCommand({ name: "inspect", flags: FLAGS, help: INSPECT_HELP }, argv, host, async (args, events) => {
    if (args.positionals.length !== 1) throw new AmalgamError("E_ARGS", `inspect: expected MODEL_OR_URL, got ${args.positionals.length} argument(s); see "amalgam inspect --help"`);
    const match = tensorMatcher(args.flags["tensor"] as string | undefined);
    const dir = await host.resolveModel(args.positionals[0]!);
    try {
      const full = await inspectModel(dir);
      const report = { ...full, tensors: full.tensors.filter((t) => match(t.name)) };
      if (events) {
        for (const w of report.warnings) events.warning(w);
        events.result(true, report);
      } else {
        host.stdout(inspectText(report));
      }
      return 0;
    } finally {
      await dir.close?.();
    }
  });
}
