// The stderr progress bar shared by merge, convert, diff and the companion commands.
import { describe, expect, it } from "vitest";
import { progressBar } from "../../src/cli/progress-bar.ts";
import type { CliHost } from "../../src/cli/host.ts";

function fakeHost(): { host: CliHost; err: string[]; clock: { t: number } } {
  const err: string[] = [];
  const clock = { t: 1000 };
  const host = { stderr: (s: string) => err.push(s), stderrColumns: 100, now: () => clock.t } as unknown as CliHost;
  return { host, err, clock };
}

const p = (done: number, total = 3) => ({ tensorsDone: done, tensorsTotal: total, bytesDone: done * 10, bytesTotal: total * 10, tensor: `t${done}` });

describe("progressBar", () => {
  it("draws at most every 100 ms and always the last tensor, on one line, ended by a newline", () => {
    const { host, err, clock } = fakeHost();
    const bar = progressBar(host, true, "multi");
    expect(bar.clearLine()).toBe("");
    bar.draw(p(1));
    clock.t += 50;
    bar.draw(p(2));
    clock.t += 10;
    bar.draw(p(3));
    expect(err.length).toBe(2);
    for (const line of err) expect(line).toMatch(/^\r\x1b\[Kmulti \[[#-]+\] \d\/3 tensors/);
    expect(err[1]).toContain("3/3 tensors");
    expect(bar.clearLine()).toBe("\r\x1b[K");
    bar.end();
    expect(err[2]).toBe("\n");
    bar.end();
    expect(err.length).toBe(3);
  });

  it("writes nothing when off", () => {
    const { host, err } = fakeHost();
    const bar = progressBar(host, false);
    bar.draw(p(3));
    bar.end();
    expect(err).toEqual([]);
    expect(bar.clearLine()).toBe("");
  });
});
