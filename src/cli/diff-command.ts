// `amalgam diff MODEL_A MODEL_B`: where and how much B differs from A, per tensor and per layer.
import { AmalgamError } from "../errors.ts";
import { Kernels } from "../kernels/kernels.ts";
import { diffModels } from "../inspect/diff-models.ts";
import { diffText } from "../inspect/diff-text.ts";
import { openModel } from "../inspect/model-summary.ts";
import { tensorMatcher } from "../inspect/tensor-pattern.ts";
import { formatHelp } from "./args.ts";
import type { FlagSpec } from "./args.ts";
import { HELP_FLAG, jsonFlag } from "./common-flags.ts";
import type { CliHost } from "./host.ts";
import { progressBar } from "./progress-bar.ts";
import { runCommand } from "./run-command.ts";

const FLAGS: readonly FlagSpec[] = [
  { name: "tensors", kind: "boolean", default: false, help: "also print every tensor's row (JSON always has them)" },
  { name: "tensor", kind: "string", valueName: "PATTERN", help: "only tensors whose name contains PATTERN (or matches it as a glob)" },
  { name: "quiet", kind: "boolean", negatable: true, default: false, help: "no progress bar" },
  jsonFlag("progress per tensor, the report as the result"),
  HELP_FLAG,
];

export const DIFF_HELP = formatHelp(
  "amalgam diff MODEL_A MODEL_B [options]",
  "Compare two models tensor by tensor: shape and dtype agreement, the fraction of elements changed, the\nL2 norm of the difference relative to A's, and the cosine similarity; summarised per layer. Streams\nboth models in chunks (local directories, URLs or org/name). Exit code 0 either way; the result's\n\"identical\" says whether they are the same.",
  FLAGS,
);

export async function diffCommand(argv: readonly string[], host: CliHost): Promise<number> {
  return runCommand({ name: "diff", flags: FLAGS, help: DIFF_HELP }, argv, host, async (args, events) => {
    if (args.positionals.length !== 2) throw new AmalgamError("E_ARGS", `diff: expected MODEL_A and MODEL_B, got ${args.positionals.length} argument(s); see "amalgam diff --help"`);
    const match = tensorMatcher(args.flags["tensor"] as string | undefined);
    const da = await host.resolveModel(args.positionals[0]!);
    const db = await host.resolveModel(args.positionals[1]!);
    try {
      const [a, b] = [await openModel(da), await openModel(db)];
      for (const w of [...a.warnings, ...b.warnings]) events ? events.warning(w) : host.stderr(`warning: ${w}\n`);
      const bar = progressBar(host, !events && args.flags["quiet"] !== true && host.stderrIsTTY);
      const report = await diffModels(a, b, {
        kernels: await Kernels.instantiate(await host.loadKernelModule(false)),
        match,
        onProgress: (p) => {
          events?.progress(p);
          bar.draw(p);
        },
      });
      bar.end();
      if (events) events.result(true, report);
      else host.stdout(diffText(report, args.flags["tensors"] === true));
      return 0;
    } finally {
      await da.close?.();
      await db.close?.();
    }
  });
}
