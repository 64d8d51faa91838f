// Dotted config.json keys (`text_config.num_hidden_layers`): nested objects of multi-module models.

export function getConfigPath(cfg: Readonly<Record<string, unknown>>, path: string): unknown {
  let cur: unknown = cfg;
  for (const part of path.split(".")) {
    if (typeof cur !== "object" || cur === null || Array.isArray(cur)) return undefined;
    cur = (cur as Record<string, unknown>)[part];
  }
  return cur;
}

/** Sets a dotted key, creating nested objects on the way. */
export function setConfigPath(cfg: Record<string, unknown>, path: string, value: unknown): void {
  const parts = path.split(".");
  let cur = cfg;
  for (const part of parts.slice(0, -1)) {
    const next = cur[part];
    if (typeof next !== "object" || next === null || Array.isArray(next)) cur[part] = {};
    cur = cur[part] as Record<string, unknown>;
  }
  cur[parts[parts.length - 1]!] = value;
}
