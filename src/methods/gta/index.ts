// The gta method family, listed in src/methods/registry.ts.
import type { MethodDef } from "../types.ts";
import sce from "./sce.ts";
import { GTA_VARIANTS } from "./variants.ts";

export const GTA_METHODS: readonly MethodDef[] = [...GTA_VARIANTS, sce];
