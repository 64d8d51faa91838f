// The `modules:` config syntax.
import { describe, expect, it } from "vitest";
import { parseMergeConfig } from "../../src/config/parse-config.ts";
import { AmalgamError } from "../../src/errors.ts";

describe("modules config", () => {
  it("reads each module's models or slices and parameters", () => {
    const c = parseMergeConfig(`merge_method: linear
modules:
  text_decoder:
    slices:
      - sources:
          - model: a
            layer_range: [0, 4]
    parameters:
      weight: 0.5
  vision_tower:
    models:
      - model: b
`);
    expect(c.models).toBeUndefined();
    expect(c.slices).toBeUndefined();
    expect([...c.modules!.keys()]).toEqual(["text_decoder", "vision_tower"]);
    const t = c.modules!.get("text_decoder")!;
    expect(t.slices![0]!.sources[0]!.layerRange).toEqual([0, 4]);
    expect(t.parameters.get("weight")!.path).toBe("modules.text_decoder.parameters.weight");
    expect(c.modules!.get("vision_tower")!.models![0]!.model.path).toBe("b");
  });

  it.each([
    ["modules:\n  t:\n    parameters: {weight: 1}\n", `exactly one of "models" or "slices" must be given`],
    ["modules:\n  t:\n    models: []\n    slices: []\n", `exactly one of "models" or "slices" must be given`],
    ["modules:\n  t:\n    model: a\n", `unknown key "model"; expected one of: models, slices, parameters`],
    ["modules: {}\n", "expected at least one module"],
    ["models:\n  - model: a\nmodules:\n  t:\n    models: []\n", `exactly one of "models", "slices" or "modules" must be given (found 2)`],
  ])("rejects %j", (body, message) => {
    let err: unknown;
    try { parseMergeConfig(`merge_method: linear\n${body}`); } catch (e) { err = e; }
    expect(err).toBeInstanceOf(AmalgamError);
    expect((err as AmalgamError).message).toContain(message);
  });
});
