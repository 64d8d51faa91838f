// What to change when a merge would fail: one problem with its stable code, the message, and a fix.

export interface CheckProblem {
  readonly code: string;
  readonly message: string;
  /** What to change. */
  readonly fix: string;
}

/** What to change for an error the planner or a model reader raised, by its code. */
export function fixFor(code: string, configFile: string): string {
  switch (code) {
    case "E_CONFIG": case "E_CONFIG_TYPE": case "E_CONFIG_UNKNOWN_KEY":
      return `edit ${configFile} at the place the message names`;
    case "E_UNKNOWN_METHOD":
      return "set merge_method to one of the methods listed";
    case "E_UNSUPPORTED":
      return "use a supported feature or input format (see the README's status table)";
    case "E_MODEL_NOT_FOUND":
      return "check the model path (local paths are relative to the current directory) or the URL / hub name";
    case "E_MODEL_CONFIG": case "E_SAFETENSORS": case "E_INDEX":
      return "the model's files are damaged or incomplete: download it again";
    case "E_TENSOR_MISSING":
      return "merge only models of the same architecture, or pick layer ranges every model has";
    case "E_SHAPE":
      return "merge only models of the same size (same hidden and intermediate sizes), or take these tensors from one model with passthrough slices";
    case "E_DTYPE":
      return "only F32, BF16 and F16 tensors can be merged; convert the model first";
    case "E_IO":
      return "check that the file or URL is readable";
    default:
      return "see the message";
  }
}
