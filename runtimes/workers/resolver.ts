// Model references a Worker can read: `r2://BINDING/prefix` (an R2 binding of the Worker),
// `http(s)://` folders and `org/name[@revision]` hub names (over HTTP Range).
import { httpResolver } from "../../src/io/http-model.ts";
import type { HttpOptions } from "../../src/io/http-model.ts";
import type { ResolveModel } from "../../src/io/storage.ts";
import { isR2Ref, r2Resolver } from "./r2-model.ts";

/**
 * Workers allow six connections waiting for headers at once per request; more are queued by the
 * runtime, so asking for more only hides the queue.
 */
export const WORKER_CONNECTIONS = 6;

export function workersResolver(env: Readonly<Record<string, unknown>>, http: HttpOptions = {}): ResolveModel {
  const r2 = r2Resolver(env);
  const web = httpResolver({ maxConnections: WORKER_CONNECTIONS, ...http });
  return (ref) => (isR2Ref(ref) ? r2(ref) : web(ref));
}
