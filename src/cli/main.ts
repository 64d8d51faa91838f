// The CLI's entry: dispatches commands; a user error is one paragraph on stderr and exit code 1.
import { AmalgamError } from "../errors.ts";
import type { CliHost } from "./host.ts";
import { mergeCommand } from "./merge-command.ts";
import { assembleCommand } from "./assemble-command.ts";
import { explainCommand } from "./explain-command.ts";
import { checkCommand } from "./check-command.ts";
import { inspectCommand } from "./inspect-command.ts";
import { diffCommand } from "./diff-command.ts";
import { convertCommand } from "./convert-command.ts";
import { multiCommand } from "./multi-command.ts";
import { pytorchCommand } from "./pytorch-command.ts";
import { moeCommand } from "./moe-command.ts";
import { extractLoraCommand } from "./extract-lora-command.ts";

export const VERSION = "0.1.0";

const HELP = `Usage: amalgam <command> [options]

Merge LLM checkpoints from MergeKit YAML configs.

Commands:
  merge CONFIG OUT_DIR   run a merge (MergeKit's mergekit-yaml)
  assemble OUT_DIR       finish a merge run in parts (merge --shard I/N)
  explain CONFIG         every output tensor's sources, parameters and dtypes
  check CONFIG           whether a merge would succeed, its size, time and memory
  inspect MODEL          a model's architecture, tensors, shards and tokenizer (headers only)
  diff MODEL_A MODEL_B   how much every tensor differs between two models
  convert MODEL OUT_DIR  re-encode a model as bf16, f16 or f32 and re-shard it
  multi CONFIG -I DIR    run a multi-stage recipe of merges (mergekit-multi; --single-pass)
  pytorch CONFIG OUT_DIR merge raw state dicts (.safetensors/.bin files; mergekit-pytorch)
  moe CONFIG OUT_DIR     build a mixture of experts from dense models (mergekit-moe)
  extract-lora --model M --base-model B --out-path DIR
                         extract a LoRA adapter from a fine-tune (mergekit-extract-lora)
  help [COMMAND]         show help
  version                print the version

Run "amalgam <command> --help" for a command's options; --json on any command but help and
version prints newline-delimited JSON events on stdout instead of text.
`;

/** The inspection commands (issue 9) and the companion tools (issue 7). */
const TOOLS: Readonly<Record<string, (argv: readonly string[], host: CliHost) => Promise<number>>> = {
  explain: explainCommand,
  check: checkCommand,
  inspect: inspectCommand,
  diff: diffCommand,
  convert: convertCommand,
  // MergeKit's companion tools (issue 7)
  multi: multiCommand,
  pytorch: pytorchCommand,
  moe: moeCommand,
  "extract-lora": extractLoraCommand,
};

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
        if (rest[0] !== undefined && Object.hasOwn(TOOLS, rest[0])) return await TOOLS[rest[0]]!(["--help"], host);
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
      default:
        if (Object.hasOwn(TOOLS, cmd)) return await TOOLS[cmd]!(rest, host);
        throw new AmalgamError("E_ARGS", `unknown command "${cmd}"; expected one of: merge, assemble, ${Object.keys(TOOLS).join(", ")}, help, version`);
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
