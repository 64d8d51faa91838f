// The spherical method family, listed in src/methods/registry.ts.
import type { MethodDef } from "../types.ts";
import karcher from "./karcher.ts";
import multislerp from "./multislerp.ts";
import nuslerp from "./nuslerp.ts";
import slerp from "./slerp.ts";

export const SPHERICAL_METHODS: readonly MethodDef[] = [slerp, nuslerp, multislerp, karcher];
