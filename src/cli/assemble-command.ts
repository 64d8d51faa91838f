// `amalgam assemble OUT_DIR`: finish a merge that ran as parts (`merge --shard I/N`).
import { assembleOutput } from "../executor/assemble.ts";
import { parsePartManifest } from "../executor/parts.ts";
import { AmalgamError } from "../errors.ts";
import { formatHelp } from "./args.ts";
import type { FlagSpec } from "./args.ts";
import { HELP_FLAG, jsonFlag } from "./common-flags.ts";
import type { CliHost } from "./host.ts";
import { runCommand } from "./run-command.ts";
import { stagingName } from "../output/output-dir.ts";

const FLAGS: readonly FlagSpec[] = [
  { name: "quiet", kind: "boolean", negatable: true, default: false, help: "print nothing on success" },
  jsonFlag("the result lists the files written"),
  HELP_FLAG,
];

export const ASSEMBLE_HELP = formatHelp(
  "amalgam assemble OUT_DIR",
  "Finish a merge computed in parts with \"amalgam merge CONFIG OUT_DIR --shard I/N\": checks that every part\nfinished (amalgam-part-I-of-N.json manifests from the same plan), then writes the index, config.json,\ntokenizer files and model card. Run it from the directory the parts ran from (model paths are relative).",
  FLAGS,
);

export async function assembleCommand(argv: readonly string[], host: CliHost): Promise<number> {
  return runCommand({ name: "assemble", flags: FLAGS, help: ASSEMBLE_HELP }, argv, host, async (args, events) => {
    if (args.positionals.length !== 1) throw new AmalgamError("E_ARGS", `assemble: expected OUT_DIR; see "amalgam assemble --help"`);
    const outDir = args.positionals[0]!;
    const names = (await host.listDir(outDir)).filter((n) => /^amalgam-part-\d+-of-\d+\.json$/.test(n)).sort();
    const manifests = [];
    for (const n of names) manifests.push(parsePartManifest(await host.readTextFile(host.joinPath(outDir, n)), host.joinPath(outDir, n)));
    const { files, parts } = await assembleOutput({ resolveModel: host.resolveModel, sink: await host.createSink(outDir, { staging: stagingName("assemble") }), manifests });
    for (const n of names) await host.removeFile(host.joinPath(outDir, n));
    events?.result(true, { out: outDir, parts, files });
    if (!args.flags["quiet"] && !events) host.stderr(`assembled ${parts} part(s) in ${outDir}: wrote ${files.join(", ")}\n`);
    return 0;
  });
}
