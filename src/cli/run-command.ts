// What every command does first: parse its flags, answer --help, and with --json write the
// `start` event and turn an error into an `error` event.
import { parseArgs } from "./args.ts";
import type { FlagSpec, ParsedArgs } from "./args.ts";
import type { CliHost } from "./host.ts";
import { jsonEvents, withJsonErrors } from "./json-events.ts";
import type { CommandName, JsonEvents } from "./json-events.ts";

export interface CommandSpec {
  readonly name: CommandName;
  readonly flags: readonly FlagSpec[];
  readonly help: string;
}

/** Runs `body` with the parsed flags and, with --json, the event writer; returns the exit code. */
export async function runCommand(
  spec: CommandSpec,
  argv: readonly string[],
  host: CliHost,
  body: (args: ParsedArgs, events: JsonEvents | undefined) => Promise<number>,
): Promise<number> {
  const args = parseArgs(argv, spec.flags, spec.name);
  if (args.flags["help"]) {
    host.stdout(spec.help);
    return 0;
  }
  const events = args.flags["json"] ? jsonEvents(host, spec.name) : undefined;
  return withJsonErrors(events, () => body(args, events));
}
