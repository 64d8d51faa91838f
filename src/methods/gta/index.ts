// The gta method family, listed in src/methods/registry.ts.
import type { MethodDef } from "../types.ts";

export const GTA_METHODS: readonly MethodDef[] = [];
