/** Builds dist/browser/ (amalgam.js, app.js, tile-worker.js, index.html, the .wasm builds); returns its path. */
export function bundleBrowser(options?: { outdir?: string; quiet?: boolean }): Promise<string>;
