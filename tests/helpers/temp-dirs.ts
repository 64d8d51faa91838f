// Temporary directories of the test file now running, removed after it (tests/helpers/cleanup.ts):
// a full suite run would otherwise leave gigabytes of merged models in the system's temp folder.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const made: string[] = [];

/** A fresh directory in the system's temp folder, removed when the test file ends. */
export function tempDir(prefix = "amalgam-test-"): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  made.push(dir);
  return dir;
}

/** Removes every directory made so far (best effort: a test may have left one unreadable). */
export function removeTempDirs(): void {
  for (const dir of made.splice(0)) {
    try {
      rmSync(dir, { recursive: true, force: true, maxRetries: 2 });
    } catch {
      // left for the OS: the temp folder is cleaned eventually
    }
  }
}
