// ram (MergeKit ram.py, Reinforced Agent Merging): base plus the models' task vectors above
// `epsilon`, shared elements averaged over the models that change them.
import { AmalgamError } from "../../errors.ts";
import { defineMethod } from "../types.ts";
import { equalShapes, requireOthers } from "./input-rules.ts";
import { ramMerge } from "./ram-merge.ts";

export default defineMethod({
  name: "ram",
  cardName: "[Reinforced Agent Merging](https://arxiv.org/abs/2601.13572)",
  base: "required",
  global: [{ name: "epsilon", default: 1e-5 }],
  perModel: [],
  outputShape(ctx) {
    requireOthers(ctx, "ram", 0, undefined);
    return equalShapes(ctx, "ram");
  },
  merge(ctx) {
    const epsilon = ctx.global["epsilon"];
    if (epsilon === undefined) throw new AmalgamError("E_CONFIG", `tensor "${ctx.tensor}": ram needs the parameter "epsilon"`);
    return ramMerge(ctx, epsilon, undefined);
  },
});
