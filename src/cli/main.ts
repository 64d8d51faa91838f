// The CLI's entry: dispatches commands; a user error is one paragraph on stderr and exit code 1.
import { AmalgamError } from "../errors.ts";
import type { CliHost } from "./host.ts";
import { mergeCommand } from "./merge-command.ts";
import { assembleCommand } from "./assemble-command.ts";
import { pytorchCommand } from "./pytorch-command.ts";
import { multiCommand } from "./multi-command.ts";
import { extractLoraCommand } from "./extract-lora-command.ts";
import { moeCommand } from "./moe-command.ts";

export const VERSION = "0.1.0";

const HELP = `Usage: amalgam <command> [options]

Merge LLM checkpoints from MergeKit YAML configs.

Commands:
  merge CONFIG OUT_DIR   run a merge (MergeKit's mergekit-yaml)
  assemble OUT_DIR       finish a merge run in parts (merge --shard I/N)
  multi CONFIG -I DIR    run a multi-stage recipe of merges (mergekit-multi; --single-pass)
  pytorch CONFIG OUT_DIR merge raw state dicts (.safetensors/.bin files; mergekit-pytorch)
  moe CONFIG OUT_DIR     build a mixture of experts from dense models (mergekit-moe)
  extract-lora --model M --base-model B --out-path DIR
                         extract a LoRA adapter from a fine-tune (mergekit-extract-lora)
  help [COMMAND]         show help
  version                print the version

Run "amalgam <command> --help" for a command's options.
`;

/** Runs one CLI invocation and returns its exit code; never throws. */
export async function runCli(argv: readonly string[], host: CliHost): Promise<number> {
  const [cmd, ...rest] = argv;
  try {
    switch (cmd) {
      case undefined:
      case "help":
      case "--help":
      case "-h":
        if (rest[0] === "merge") return await mergeCommand(["--help"], host);
        if (rest[0] === "assemble") return await assembleCommand(["--help"], host);
        if (rest[0] === "pytorch") return await pytorchCommand(["--help"], host);
        if (rest[0] === "multi") return await multiCommand(["--help"], host);
        if (rest[0] === "extract-lora") return await extractLoraCommand(["--help"], host);
        if (rest[0] === "moe") return await moeCommand(["--help"], host);
        host.stdout(HELP);
        return 0;
      case "version":
      case "--version":
        host.stdout(`amalgam ${VERSION}\n`);
        return 0;
      case "merge":
        return await mergeCommand(rest, host);
      case "assemble":
        return await assembleCommand(rest, host);
      case "pytorch":
        return await pytorchCommand(rest, host);
      case "multi":
        return await multiCommand(rest, host);
      case "extract-lora":
        return await extractLoraCommand(rest, host);
      case "moe":
        return await moeCommand(rest, host);
      default:
        throw new AmalgamError("E_ARGS", `unknown command "${cmd}"; expected one of: merge, assemble, multi, pytorch, moe, extract-lora, help, version`);
    }
  } catch (e) {
    if (e instanceof AmalgamError) {
      host.stderr(`\nerror [${e.code}]: ${e.message}\n`);
      return 1;
    }
    host.stderr(`\ninternal error: ${(e as Error)?.stack ?? String(e)}\n`);
    return 2;
  }
}
