// Workers (and esbuild's bundle for them) import a .wasm file as a compiled WebAssembly.Module:
// workerd refuses to compile wasm at run time ("Wasm code generation disallowed by embedder").
declare module "*.wasm" {
  const module: WebAssembly.Module;
  export default module;
}
