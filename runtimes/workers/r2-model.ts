// Model directories in R2: `r2://BINDING/prefix` names the objects `prefix/config.json`,
// `prefix/model.safetensors`, ... of the bucket bound as BINDING. Tensors are read with ranged
// gets (`get(key, { range })`) conditional on the ETag seen first, so a file replaced mid-merge
// is an error rather than a silent mix of two versions.
import { AmalgamError } from "../../src/errors.ts";
import type { ByteSource, ModelDirectory, ResolveModel } from "../../src/io/storage.ts";
import { isR2Bucket } from "./r2-types.ts";
import type { R2BucketLike, R2ObjectInfo } from "./r2-types.ts";

/** Whole small files (JSON, tokenizer) larger than this are refused: they are held in memory. */
export const MAX_R2_SIDE_FILE = 64 * 1024 * 1024;

export interface R2Location {
  readonly binding: string;
  /** Key prefix without a trailing slash ("" for the bucket root). */
  readonly prefix: string;
}

const R2_REF = /^r2:\/\/([A-Za-z_][A-Za-z0-9_]*)(?:\/(.*))?$/;

/** Parses `r2://BINDING/prefix`; undefined when `ref` is not an r2:// reference. */
export function parseR2Ref(ref: string): R2Location | undefined {
  const m = R2_REF.exec(ref);
  if (!m) return undefined;
  const prefix = (m[2] ?? "").replace(/\/+$/, "");
  if (prefix.split("/").some((p, i, all) => p === "." || p === ".." || (p === "" && all.length > 1))) {
    throw new AmalgamError("E_ARGS", `${ref}: the key prefix must not contain empty, "." or ".." segments`);
  }
  return { binding: m[1]!, prefix };
}

export function isR2Ref(ref: string): boolean {
  return /^r2:\/\//.test(ref);
}

/** The bucket bound as `binding` in a Worker's env, or a clear error. */
export function bucketOf(env: Readonly<Record<string, unknown>>, binding: string, ref: string): R2BucketLike {
  const b = env[binding];
  if (!isR2Bucket(b)) throw new AmalgamError("E_ARGS", `${ref}: the Worker has no R2 bucket binding named "${binding}" (add it under [[r2_buckets]] in wrangler.toml)`);
  return b;
}

function checkName(name: string, ref: string): void {
  if (!name || name.includes("/") || name.includes("\\") || name === "." || name === "..") {
    throw new AmalgamError("E_IO", `${ref}: refusing to read "${name}", which is not a plain file name`);
  }
}

class R2Source implements ByteSource {
  constructor(private readonly bucket: R2BucketLike, private readonly key: string, private readonly info: R2ObjectInfo, private readonly name: string) {}

  get size(): number {
    return this.info.size;
  }

  async readInto(offset: number, dest: Uint8Array): Promise<void> {
    if (dest.length === 0) return;
    if (offset < 0 || offset + dest.length > this.size) {
      throw new AmalgamError("E_IO", `${this.name}: range [${offset}, ${offset + dest.length}) is outside the ${this.size}-byte object`);
    }
    let obj;
    try {
      obj = await this.bucket.get(this.key, { range: { offset, length: dest.length }, onlyIf: { etagMatches: this.info.etag } });
    } catch (e) {
      throw new AmalgamError("E_IO", `${this.name}: R2 get of bytes ${offset}+${dest.length} failed: ${(e as Error).message}`, { cause: e });
    }
    if (obj === null) throw new AmalgamError("E_IO", `${this.name}: the object was deleted during the merge`);
    if (!("body" in obj)) throw new AmalgamError("E_IO", `${this.name}: the object changed during the merge (ETag ${this.info.etag} became ${obj.etag})`);
    const reader = obj.body.getReader();
    let got = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (got + value.length > dest.length) {
        await reader.cancel();
        throw new AmalgamError("E_IO", `${this.name}: R2 returned more than the ${dest.length} bytes asked for`);
      }
      dest.set(value, got);
      got += value.length;
    }
    if (got !== dest.length) throw new AmalgamError("E_IO", `${this.name}: R2 returned ${got} of ${dest.length} bytes at offset ${offset}`);
  }
}

export class R2ModelDirectory implements ModelDirectory {
  private readonly heads = new Map<string, Promise<R2ObjectInfo | null>>();
  constructor(readonly ref: string, private readonly bucket: R2BucketLike, private readonly prefix: string) {}

  private key(name: string): string {
    checkName(name, this.ref);
    return this.prefix ? `${this.prefix}/${name}` : name;
  }

  private head(name: string): Promise<R2ObjectInfo | null> {
    let h = this.heads.get(name);
    if (!h) {
      const key = this.key(name);
      h = this.bucket.head(key).catch((e: unknown) => {
        throw new AmalgamError("E_IO", `${this.ref}/${name}: R2 head failed: ${(e as Error).message}`, { cause: e });
      });
      this.heads.set(name, h);
    }
    return h;
  }

  async has(name: string): Promise<boolean> {
    return (await this.head(name)) !== null;
  }

  async open(name: string): Promise<ByteSource> {
    const info = await this.head(name);
    if (!info) throw new AmalgamError("E_MODEL_NOT_FOUND", `${this.ref}/${name}: no such object`);
    return new R2Source(this.bucket, this.key(name), info, `${this.ref}/${name}`);
  }

  async readFile(name: string): Promise<Uint8Array> {
    const src = await this.open(name);
    if (src.size > MAX_R2_SIDE_FILE) throw new AmalgamError("E_IO", `${this.ref}/${name}: ${src.size} bytes, over the ${MAX_R2_SIDE_FILE}-byte limit for whole files`);
    const out = new Uint8Array(src.size);
    await src.readInto(0, out);
    return out;
  }

  async close(): Promise<void> {
    this.heads.clear();
  }
}

/** Resolves `r2://BINDING/prefix` references against the R2 bindings in a Worker's `env`. */
export function r2Resolver(env: Readonly<Record<string, unknown>>): ResolveModel {
  return async (ref: string) => {
    const loc = parseR2Ref(ref);
    if (!loc) throw new AmalgamError("E_MODEL_NOT_FOUND", `model "${ref}" is not an r2://BINDING/prefix reference`);
    return new R2ModelDirectory(ref, bucketOf(env, loc.binding, ref), loc.prefix);
  };
}
