// The misc method family, listed in src/methods/registry.ts.
import type { MethodDef } from "../types.ts";

export const MISC_METHODS: readonly MethodDef[] = [];
