// The eight members of the family, as MergeKit's registry configures them.
import { defineGtaMethod } from "./family.ts";

export const GTA_VARIANTS = [
  defineGtaMethod({
    name: "task_arithmetic", cardName: "[Task Arithmetic](https://arxiv.org/abs/2212.04089)",
    consensus: false, normalizeDefault: false, rescaleDefault: false,
  }),
  defineGtaMethod({
    name: "ties", cardName: "[TIES](https://arxiv.org/abs/2306.01708)",
    sparsification: "magnitude", consensus: true, normalizeDefault: true, rescaleDefault: false,
  }),
  defineGtaMethod({
    name: "dare_ties", cardName: "[DARE TIES](https://arxiv.org/abs/2311.03099)",
    sparsification: "random", consensus: true, normalizeDefault: false, rescaleDefault: true,
  }),
  defineGtaMethod({
    name: "dare_linear", cardName: "[Linear DARE](https://arxiv.org/abs/2311.03099)",
    sparsification: "random", consensus: false, normalizeDefault: false, rescaleDefault: true,
  }),
  defineGtaMethod({
    name: "breadcrumbs", cardName: "[Model Breadcrumbs](https://arxiv.org/abs/2312.06795)",
    sparsification: "magnitude_outliers", consensus: false, normalizeDefault: false, rescaleDefault: false,
  }),
  defineGtaMethod({
    name: "breadcrumbs_ties", cardName: "[Model Breadcrumbs with TIES](https://arxiv.org/abs/2312.06795)",
    sparsification: "magnitude_outliers", consensus: true, normalizeDefault: false, rescaleDefault: false,
  }),
  defineGtaMethod({
    name: "della", cardName: "[DELLA](https://arxiv.org/abs/2406.11617)",
    sparsification: "della_magprune", consensus: true, normalizeDefault: true, rescaleDefault: true,
  }),
  defineGtaMethod({
    name: "della_linear", cardName: "[Linear DELLA](https://arxiv.org/abs/2406.11617)",
    sparsification: "della_magprune", consensus: false, normalizeDefault: false, rescaleDefault: true,
  }),
] as const;
