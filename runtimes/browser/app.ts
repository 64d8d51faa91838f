// The page (index.html): choose model folders or use URLs, paste a config, merge into OPFS or a
// chosen folder, download the files. State for tests and scripts is on document.body.dataset
// (state: idle | running | done | error; threads; files).
import { AmalgamError } from "../../src/errors.ts";
import { merge } from "../../src/executor/merge.ts";
import { httpResolver } from "../../src/io/http-model.ts";
import { parseMergeConfig } from "../../src/config/parse-config.ts";
import { DirectorySink, downloadBlob } from "./directory-sink.ts";
import { filesFromDirectoryHandle, filesFromInput, localFilesResolver, modelFolders } from "./file-model.ts";
import type { LocalFile } from "./file-model.ts";
import { browserThreadPool, loadKernelModule, threadsAvailable } from "./kernels.ts";

/** Tile buffers in flight: a tab shares memory with everything else the browser does. */
const PAGE_MEMORY_BUDGET = 64_000_000;

type Picker = (options?: { mode?: "read" | "readwrite" }) => Promise<FileSystemDirectoryHandle>;
const picker = (globalThis as unknown as { showDirectoryPicker?: Picker }).showDirectoryPicker;

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const body = document.body;
const log = $<HTMLPreElement>("log");
const progress = $<HTMLProgressElement>("progress");
const mergeButton = $<HTMLButtonElement>("merge");
const cancelButton = $<HTMLButtonElement>("cancel");
const threadsBox = $<HTMLInputElement>("threads");
const target = $<HTMLSelectElement>("target");
let chosen: LocalFile[] = [];
let controller: AbortController | undefined;

function say(line: string, error = false): void {
  const span = document.createElement("span");
  if (error) span.className = "error";
  span.textContent = `${line}\n`;
  log.append(span);
  log.scrollTop = log.scrollHeight;
}

function showModels(): void {
  const list = $<HTMLUListElement>("model-list");
  list.replaceChildren(...modelFolders(chosen).map((f) => Object.assign(document.createElement("li"), { textContent: f })));
}

const threadCount = Math.max(1, Math.min(navigator.hardwareConcurrency || 1, 16));
if (threadsAvailable()) {
  $("thread-info").textContent = `(${threadCount})`;
} else {
  threadsBox.checked = false;
  threadsBox.disabled = true;
  $("thread-info").textContent = "(needs a cross-origin isolated page: COOP/COEP headers)";
}
if (picker) {
  $("pick").hidden = false;
  (target.querySelector('option[value="folder"]') as HTMLOptionElement).hidden = false;
}

$<HTMLInputElement>("folders").addEventListener("change", (e) => {
  const input = e.target as HTMLInputElement;
  if (input.files) chosen = [...chosen, ...filesFromInput(input.files)];
  showModels();
});

$("pick").addEventListener("click", async () => {
  try {
    const dir = await picker!({ mode: "read" });
    chosen = [...chosen, ...(await filesFromDirectoryHandle(dir))];
    showModels();
  } catch (e) {
    if ((e as Error).name !== "AbortError") say((e as Error).message, true);
  }
});

function showFiles(files: File[]): void {
  const list = $<HTMLUListElement>("files");
  list.replaceChildren(...files.map((f) => {
    const li = document.createElement("li");
    const button = Object.assign(document.createElement("button"), { textContent: "Download" });
    button.dataset["file"] = f.name;
    button.addEventListener("click", () => downloadBlob(f, f.name));
    li.append(button, ` ${f.name} (${f.size.toLocaleString()} bytes)`);
    return li;
  }));
  $("result").hidden = false;
}

async function run(): Promise<void> {
  body.dataset["state"] = "running";
  log.replaceChildren();
  $("result").hidden = true;
  mergeButton.disabled = true;
  cancelButton.disabled = false;
  controller = new AbortController();
  const started = performance.now();
  let sink: DirectorySink | undefined;
  try {
    const config = parseMergeConfig($<HTMLTextAreaElement>("config").value, "config");
    const name = $<HTMLInputElement>("out-name").value.trim() || "merged";
    if (/[/\\]|^\./.test(name)) throw new AmalgamError("E_ARGS", `output name "${name}": expected a plain folder name`);
    const threads = threadsBox.checked && threadsAvailable() ? threadCount : 1;
    sink = target.value === "folder" && picker
      ? await DirectorySink.create(await picker({ mode: "readwrite" }), name)
      : await DirectorySink.opfs(name);
    const kernels = await loadKernelModule(threads > 1);
    say(`merging with ${threads} thread(s)…`);
    const result = await merge(config, {
      resolveModel: localFilesResolver(chosen, httpResolver()),
      sink,
      kernels,
      outputName: name,
      threadPool: threads > 1 ? browserThreadPool() : undefined,
      threadCount: threads,
      memoryBudget: PAGE_MEMORY_BUDGET,
      signal: controller.signal,
      onWarning: (m) => say(`warning: ${m}`),
      onProgress: (p) => {
        progress.max = Math.max(1, p.bytesTotal);
        progress.value = p.bytesDone;
      },
    });
    const files = await sink.files();
    sink = undefined;
    showFiles(files);
    const secs = (performance.now() - started) / 1000;
    say(`done: ${result.plan.tensors.length} tensors, ${result.plan.totalBytes.toLocaleString()} bytes in ${secs.toFixed(2)} s (${result.threads} thread(s))`);
    body.dataset["threads"] = String(result.threads);
    body.dataset["files"] = files.map((f) => f.name).join(",");
    body.dataset["state"] = "done";
  } catch (e) {
    await sink?.abort(); // merge() aborts the sink itself, but not when planning failed
    const err = e as Partial<AmalgamError>;
    say(`${err.code ?? "error"}: ${err.message ?? String(e)}`, true);
    body.dataset["state"] = "error";
  } finally {
    mergeButton.disabled = false;
    cancelButton.disabled = true;
    controller = undefined;
  }
}

mergeButton.addEventListener("click", () => void run());
cancelButton.addEventListener("click", () => controller?.abort());
