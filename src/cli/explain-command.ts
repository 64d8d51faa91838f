// `amalgam explain CONFIG`: every output tensor's sources, parameters and dtypes, before merging.
import { AmalgamError } from "../errors.ts";
import { buildPlan } from "../plan/build-plan.ts";
import { explainPlan } from "../inspect/explain.ts";
import { explainText } from "../inspect/explain-text.ts";
import { tensorMatcher } from "../inspect/tensor-pattern.ts";
import { formatHelp, parseSize } from "./args.ts";
import type { FlagSpec } from "./args.ts";
import { HELP_FLAG, jsonFlag } from "./common-flags.ts";
import type { CliHost } from "./host.ts";
import { runCommand } from "./run-command.ts";
import { readConfig } from "./read-config.ts";

const FLAGS: readonly FlagSpec[] = [
  { name: "tensor", kind: "string", valueName: "PATTERN", help: "only tensors whose name contains PATTERN (or matches it as a glob with * and ?)" },
  { name: "out-shard-size", kind: "string", valueName: "SIZE", default: "5B", help: "output shard size, as for merge (decides each tensor's file)" },
  jsonFlag("the report is the result event"),
  HELP_FLAG,
];

export const EXPLAIN_HELP = formatHelp(
  "amalgam explain CONFIG [options]",
  "Show, for every output tensor of a merge, its sources (model, input tensor, layer), the method, every\nparameter after gradients, filters and precedence ([filter] marks a value picked by a filter,\n(default) a method default), and the working and output dtypes. Reads only headers.",
  FLAGS,
);

export async function explainCommand(argv: readonly string[], host: CliHost): Promise<number> {
  return runCommand({ name: "explain", flags: FLAGS, help: EXPLAIN_HELP }, argv, host, async (args, events) => {
    if (args.positionals.length !== 1) throw new AmalgamError("E_ARGS", `explain: expected CONFIG, got ${args.positionals.length} argument(s); see "amalgam explain --help"`);
    const match = tensorMatcher(args.flags["tensor"] as string | undefined);
    const config = await readConfig(host, args.positionals[0]!);
    const plan = await buildPlan(config, { resolveModel: host.resolveModel, outShardSize: parseSize(String(args.flags["out-shard-size"]), "--out-shard-size") });
    try {
      const report = explainPlan(plan, match);
      if (events) {
        for (const w of report.warnings) events.warning(w);
        events.result(true, report);
      } else {
        host.stdout(explainText(report));
        if (report.tensors.length === 0) host.stderr(`note: no tensor matches --tensor ${String(args.flags["tensor"])}\n`);
      }
      return 0;
    } finally {
      for (const m of plan.models) await m.files.dir.close?.();
    }
  });
}
