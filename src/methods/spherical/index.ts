// The spherical method family, listed in src/methods/registry.ts.
import type { MethodDef } from "../types.ts";

export const SPHERICAL_METHODS: readonly MethodDef[] = [];
