// The misc method family, listed in src/methods/registry.ts.
import type { MethodDef } from "../types.ts";
import arceeFusion from "./arcee-fusion.ts";
import modelStock from "./model-stock.ts";
import nearswap from "./nearswap.ts";
import ram from "./ram.ts";
import ramplusTl from "./ramplus-tl.ts";

export const MISC_METHODS: readonly MethodDef[] = [modelStock, nearswap, arceeFusion, ram, ramplusTl];
