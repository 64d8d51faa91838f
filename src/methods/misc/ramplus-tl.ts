// ramplus_tl (MergeKit ram.py, RAM+ tensor-local): RAM with each model's unique elements scaled
// by 1 + r * clamp(shared / unique, 0, alpha). MergeKit's output is float32 (a quirk).
import { AmalgamError } from "../../errors.ts";
import { defineMethod } from "../types.ts";
import { equalShapes, requireOthers } from "./input-rules.ts";
import { ramMerge } from "./ram-merge.ts";

export default defineMethod({
  name: "ramplus_tl",
  cardName: "[Reinforced Agent Merging Plus (Tensor-Local)](https://arxiv.org/abs/2601.13572)",
  base: "required",
  global: [{ name: "r", default: 0.1 }, { name: "alpha", default: 0.2 }, { name: "epsilon", default: 1e-5 }],
  perModel: [],
  outputDtype: (working, fixQuirks) => (fixQuirks ? working : "F32"),
  outputShape(ctx) {
    requireOthers(ctx, "ramplus_tl", 0, undefined);
    return equalShapes(ctx, "ramplus_tl");
  },
  merge(ctx) {
    const { r, alpha, epsilon } = ctx.global;
    if (r === undefined || alpha === undefined || epsilon === undefined) {
      throw new AmalgamError("E_CONFIG", `tensor "${ctx.tensor}": ramplus_tl needs the parameters "r", "alpha" and "epsilon"`);
    }
    return ramMerge(ctx, epsilon, { r, alpha });
  },
});
