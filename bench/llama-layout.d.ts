// Types of llama-layout.js (plain JavaScript, so that bench runs on node without a build step).

export interface LlamaArch {
  readonly hidden: number;
  readonly intermediate: number;
  readonly layers: number;
  readonly heads: number;
  readonly kvHeads: number;
  readonly vocab: number;
}

export type TensorShape = readonly number[];

export function llamaTensors(a: LlamaArch, tied?: boolean): [string, TensorShape][];
export function numel(shape: TensorShape): number;
export function planShards<T extends readonly [string, TensorShape]>(tensors: readonly T[], bytesPerElement: number, limit: number): T[][];
export function shardFileName(index: number, count: number): string;
export function llamaConfig<F = number>(a: LlamaArch, torchDtype: string, tied?: boolean, float?: (v: number) => F): Record<string, unknown>;
