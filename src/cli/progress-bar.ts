// The progress bar on stderr: redrawn at most every 100 ms (and at the last tensor), on one line.
import type { MergeProgress } from "../executor/merge.ts";
import type { CliHost } from "./host.ts";
import { progressLine } from "./progress.ts";

export interface ProgressBar {
  /** Redraws the bar for `p` (nothing when the bar is off). */
  draw(p: MergeProgress): void;
  /** What clears the bar's line before other text is written to stderr ("" when none is drawn). */
  clearLine(): string;
  /** Ends the bar's line, if one is drawn. */
  end(): void;
}

/** A bar shown when `show` (a terminal, not --quiet or --json), prefixed with `label` if given. */
export function progressBar(host: CliHost, show: boolean, label = ""): ProgressBar {
  const prefix = label ? `${label} ` : "";
  const start = host.now();
  let lastDraw = 0;
  let drawn = false;
  return {
    draw(p) {
      if (!show) return;
      const now = host.now();
      if (now - lastDraw < 100 && p.tensorsDone < p.tensorsTotal) return;
      lastDraw = now;
      drawn = true;
      host.stderr(`\r\x1b[K${prefix}${progressLine(p, (now - start) / 1000, host.stderrColumns - prefix.length)}`);
    },
    clearLine: () => (drawn ? "\r\x1b[K" : ""),
    end() {
      if (drawn) host.stderr("\n");
      drawn = false;
    },
  };
}
