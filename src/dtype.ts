import { AmalgamError } from "./errors.ts";

/** Floating dtypes Amalgam computes in, named as safetensors names them. */
export type DType = "F32" | "BF16" | "F16";

export interface DTypeInfo {
  readonly name: DType;
  readonly bytes: number;
  /** Kernel dtype / rounding-mode code (assembly/inline/round.ts). */
  readonly code: number;
  /** torch / config.json name. */
  readonly torch: string;
  /** Order in which safetensors lays out tensor data (higher first). */
  readonly layoutRank: number;
}

export const DTYPES: Readonly<Record<DType, DTypeInfo>> = {
  F32: { name: "F32", bytes: 4, code: 0, torch: "float32", layoutRank: 15 },
  BF16: { name: "BF16", bytes: 2, code: 1, torch: "bfloat16", layoutRank: 12 },
  F16: { name: "F16", bytes: 2, code: 2, torch: "float16", layoutRank: 11 },
};

/** Every safetensors dtype name with its element size, for validating headers we read. */
export const SAFETENSORS_ELEMENT_BYTES: Readonly<Record<string, number>> = {
  BOOL: 1, U8: 1, I8: 1, F8_E5M2: 1, F8_E4M3: 1, I16: 2, U16: 2, F16: 2, BF16: 2,
  I32: 4, U32: 4, F32: 4, F64: 8, I64: 8, U64: 8,
};

export function isDType(s: string): s is DType {
  return s === "F32" || s === "BF16" || s === "F16";
}

/** Parses a config dtype name (`bfloat16`, `torch.float16`, ...). */
export function parseConfigDType(name: string, where: string): DType {
  const n = name.startsWith("torch.") ? name.slice(6) : name;
  switch (n) {
    case "bfloat16": return "BF16";
    case "float16": case "half": return "F16";
    case "float32": case "float": return "F32";
    case "int64":
      throw new AmalgamError("E_UNSUPPORTED", `${where}: dtype "${name}" is accepted by MergeKit but merging in int64 is not supported by Amalgam`);
    default:
      throw new AmalgamError("E_CONFIG_TYPE", `${where}: unknown dtype "${name}"; expected one of bfloat16, float16, float32`);
  }
}

/** torch's type promotion between two float dtypes (bf16 with f16 gives f32). */
export function promote(a: DType, b: DType): DType {
  if (a === b) return a;
  return "F32";
}
