// `amalgam diff MODEL_A MODEL_B`: where and how much B differs from A, per tensor and per layer.
import { AmalgamError } from "../errors.ts";
import { Kernels } from "../kernels/kernels.ts";
import { diffModels } from "../inspect/diff-models.ts";
import { diffText } from "../inspect/diff-text.ts";
import { openModel } from "../inspect/model-summary.ts";
import { tensorMatcher } from "../inspect/tensor-pattern.ts";
import { formatHelp, parseArgs } from "./args.ts";
import type { FlagSpec } from "./args.ts";
import type { CliHost } from "./host.ts";
import { jsonEvents, withJsonErrors } from "./json-events.ts";
import { progressLine } from "./progress.ts";

const FLAGS: readonly FlagSpec[] = [
  { name: "tensors", kind: "boolean", default: false, help: "also print every tensor's row (JSON always has them)" },
  { name: "tensor", kind: "string", valueName: "PATTERN", help: "only tensors whose name contains PATTERN (or matches it as a glob)" },
  { name: "quiet", kind: "boolean", negatable: true, default: false, help: "no progress bar" },
  { name: "json", kind: "boolean", default: false, help: "newline-delimited JSON events on stdout (progress per tensor, the report as the result)" },
  { name: "help", short: "h", kind: "boolean", default: false, help: "show this help" },
];

export const DIFF_HELP = formatHelp(
  "amalgam diff MODEL_A MODEL_B [options]",
  "Compare two models tensor by tensor: shape and dtype agreement, the fraction of elements changed, the\nL2 norm of the difference relative to A's, and the cosine similarity; summarised per layer. Streams\nboth models in chunks (local directories, URLs or org/name). Exit code 0 either way; the result's\n\"identical\" says whether they are the same.",
  FLAGS,
);

export async function diffCommand(argv: readonly string[], host: CliHost): Promise<number> {
  const args = parseArgs(argv, FLAGS, "diff");
  if (args.flags["help"]) {
    host.stdout(DIFF_HELP);
    return 0;
  }
  const events = args.flags["json"] ? jsonEvents(host, "diff") : undefined;
  return withJsonErrors(events, async () => {
    if (args.positionals.length !== 2) throw new AmalgamError("E_ARGS", `diff: expected MODEL_A and MODEL_B, got ${args.positionals.length} argument(s); see "amalgam diff --help"`);
    const match = tensorMatcher(args.flags["tensor"] as string | undefined);
    const da = await host.resolveModel(args.positionals[0]!);
    const db = await host.resolveModel(args.positionals[1]!);
    try {
      const [a, b] = [await openModel(da), await openModel(db)];
      for (const w of [...a.warnings, ...b.warnings]) events ? events.warning(w) : host.stderr(`warning: ${w}\n`);
      const showBar = !events && args.flags["quiet"] !== true && host.stderrIsTTY;
      const start = host.now();
      let lastDraw = 0;
      const report = await diffModels(a, b, {
        kernels: await Kernels.instantiate(await host.loadKernelModule(false)),
        match,
        onProgress: (p) => {
          events?.progress(p);
          if (!showBar) return;
          const now = host.now();
          if (now - lastDraw < 100 && p.tensorsDone < p.tensorsTotal) return;
          lastDraw = now;
          host.stderr(`\r\x1b[K${progressLine(p, (now - start) / 1000, host.stderrColumns)}`);
        },
      });
      if (showBar) host.stderr("\n");
      if (events) events.result(true, report);
      else host.stdout(diffText(report, args.flags["tensors"] === true));
      return 0;
    } finally {
      await da.close?.();
      await db.close?.();
    }
  });
}
