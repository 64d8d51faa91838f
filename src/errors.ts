/** Stable error codes. Hosts and tests match on `code`, never on message text. */
export type ErrorCode =
  | "E_CONFIG"
  | "E_CONFIG_UNKNOWN_KEY"
  | "E_CONFIG_TYPE"
  | "E_UNKNOWN_METHOD"
  | "E_UNSUPPORTED"
  | "E_MODEL_NOT_FOUND"
  | "E_MODEL_CONFIG"
  | "E_SAFETENSORS"
  | "E_ZIP"
  | "E_PICKLE"
  | "E_INDEX"
  | "E_TENSOR_MISSING"
  | "E_SHAPE"
  | "E_DTYPE"
  | "E_METHOD"
  | "E_KERNEL"
  | "E_GPU"
  | "E_IO"
  | "E_TIMEOUT"
  | "E_REMOTE"
  | "E_REMOTE_CHANGED"
  | "E_OUTPUT"
  | "E_OUTPUT_EXISTS"
  | "E_OUTPUT_UNSAFE"
  | "E_NO_SPACE"
  | "E_PERMISSION"
  | "E_ARGS"
  | "E_ABORTED"
  | "E_ARCH"
  | "E_ARCH_MISMATCH"
  | "E_TOKENIZER"
  | "E_CHAT_TEMPLATE";

/** The one error class of Amalgam: a stable code plus a message naming file/tensor/config path. */
export class AmalgamError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "AmalgamError";
    this.code = code;
  }
}

export function isAmalgamError(e: unknown): e is AmalgamError {
  return e instanceof AmalgamError;
}
