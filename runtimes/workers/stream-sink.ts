// An OutputSink that streams the merged weights as one safetensors file into a WritableStream (a
// Worker's response body) and drops everything else (config.json, tokenizer, card). Each write
// waits until the reader has taken the previous chunk, so memory is one tile's bytes however large
// the model; the chunk is copied because the merge reuses its wasm buffer as soon as write returns.
// A stream cannot be withdrawn: on failure it is errored, so the client sees a broken download
// (the Content-Length was announced) rather than a short file.
import { AmalgamError } from "../../src/errors.ts";
import type { FileWriter, OutputSink } from "../../src/io/storage.ts";

export class SafetensorsStreamSink implements OutputSink {
  private readonly writer: WritableStreamDefaultWriter<Uint8Array>;
  private streamed: string | undefined;
  private closed = false;

  constructor(writable: WritableStream<Uint8Array>) {
    this.writer = writable.getWriter();
  }

  async create(name: string): Promise<FileWriter> {
    if (!name.endsWith(".safetensors")) return { write: async () => {}, close: async () => {} };
    if (this.streamed !== undefined) {
      throw new AmalgamError("E_OUTPUT", `a streamed merge holds one safetensors file, but the plan has ${this.streamed} and ${name}; raise the output shard size`);
    }
    this.streamed = name;
    const writer = this.writer;
    return {
      async write(chunk: Uint8Array) {
        await writer.ready;
        await writer.write(chunk.slice());
      },
      async close() {},
    };
  }

  async commit(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.writer.close();
  }

  async abort(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.writer.abort(new AmalgamError("E_ABORTED", "merge failed; the streamed file is incomplete"));
  }
}
