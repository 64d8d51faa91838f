// The Amalgam Worker: merges models from R2 or HTTP(S) with the single-threaded SIMD kernels,
// tile by tile, within a Worker's 128 MB. Routes:
//   POST /merge   body: MergeKit YAML; see merge-request.ts for the query parameters
//   GET  /stats   this isolate's wasm memory (what the tests check against the 128 MB limit)
//   GET  /        a short usage text
import kernelModule from "../../build/amalgam.wasm";
import { kernelStats } from "./isolate-kernels.ts";
import { errorResponse, handleMerge } from "./merge-request.ts";
import type { WaitUntil, WorkerEnv } from "./merge-request.ts";

const USAGE = `Amalgam merge Worker
POST /merge?out=r2://BINDING/prefix   body: MergeKit YAML; writes MergeKit's layout to R2, answers JSON
POST /merge                           body: MergeKit YAML; answers the merged model.safetensors
GET  /stats                           wasm memory of this isolate
Models: r2://BINDING/prefix, http(s)://host/folder/, org/name[@revision] (HF_ENDPOINT, HF_TOKEN)
`;

/** Compares in constant time for equal lengths (the token is a secret). */
function sameToken(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return d === 0;
}

export default {
  async fetch(request: Request, env: WorkerEnv, ctx: WaitUntil): Promise<Response> {
    try {
      if (env.AMALGAM_TOKEN && !sameToken(request.headers.get("authorization") ?? "", `Bearer ${env.AMALGAM_TOKEN}`)) {
        return Response.json({ error: { code: "E_ARGS", message: "missing or wrong Authorization: Bearer token" } }, { status: 401 });
      }
      const { pathname } = new URL(request.url);
      if (pathname === "/merge" && request.method === "POST") return await handleMerge(request, env, ctx, kernelModule);
      if (pathname === "/stats" && request.method === "GET") return Response.json(kernelStats());
      if (pathname === "/" && request.method === "GET") return new Response(USAGE, { headers: { "content-type": "text/plain; charset=utf-8" } });
      return Response.json({ error: { code: "E_ARGS", message: `${request.method} ${pathname}: not a route of this Worker (GET / lists them)` } }, { status: 404 });
    } catch (e) {
      return errorResponse(e);
    }
  },
};
