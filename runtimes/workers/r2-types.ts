// The part of the Workers R2 binding API that Amalgam uses, as structural types, so the hosts
// type-check without @cloudflare/workers-types (a real `R2Bucket` satisfies these).

export interface R2ObjectInfo {
  readonly key: string;
  readonly size: number;
  /** The object's ETag without quotes (what `onlyIf.etagMatches` takes). */
  readonly etag: string;
}

export interface R2ObjectWithBody extends R2ObjectInfo {
  readonly body: ReadableStream<Uint8Array>;
}

export interface R2GetOptions {
  readonly range?: { readonly offset: number; readonly length: number };
  readonly onlyIf?: { readonly etagMatches?: string };
}

export interface R2PartInfo {
  readonly partNumber: number;
  readonly etag: string;
}

export interface R2Upload {
  readonly key: string;
  readonly uploadId: string;
  uploadPart(partNumber: number, value: ArrayBuffer | ArrayBufferView): Promise<R2PartInfo>;
  abort(): Promise<void>;
  complete(parts: R2PartInfo[]): Promise<R2ObjectInfo>;
}

export interface R2ListResult {
  readonly objects: readonly R2ObjectInfo[];
  readonly truncated: boolean;
  readonly cursor?: string;
}

export interface R2BucketLike {
  head(key: string): Promise<R2ObjectInfo | null>;
  /** With `onlyIf` unmet, resolves to the object's metadata without a body. */
  get(key: string, options?: R2GetOptions): Promise<R2ObjectWithBody | R2ObjectInfo | null>;
  put(key: string, value: ArrayBuffer | ArrayBufferView | string): Promise<R2ObjectInfo | null>;
  delete(keys: string | string[]): Promise<void>;
  list(options?: { prefix?: string; cursor?: string; limit?: number }): Promise<R2ListResult>;
  createMultipartUpload(key: string): Promise<R2Upload>;
}

/** Whether a Worker environment value looks like an R2 bucket binding. */
export function isR2Bucket(v: unknown): v is R2BucketLike {
  const b = v as Partial<R2BucketLike> | null;
  return typeof b === "object" && b !== null && typeof b.get === "function" && typeof b.head === "function" && typeof b.createMultipartUpload === "function";
}
