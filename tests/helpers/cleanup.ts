// Setup file (vitest.config.ts): after each test file, remove the temporary directories it made.
// AMALGAM_KEEP_TEMP=1 keeps them, to look at a failing test's output.
import { afterAll } from "vitest";
import { removeTempDirs } from "./temp-dirs.ts";

afterAll(() => {
  if (process.env["AMALGAM_KEEP_TEMP"] !== "1") removeTempDirs();
});
