// Adds a DVLoadVideo node choosing a file from the input folder and reports the preview it shows.
// Usage: node load_preview.mjs <comfy url> <screenshot dir> <file name in the input folder>
import { openEditor } from "./comfy_page.mjs";
import path from "node:path";

const [url, shots, file] = process.argv.slice(2);
const { browser, page, errors } = await openEditor(url, { width: 1400, height: 900 });
const result = await page.evaluate(async (file) => {
  window.app.graph.clear();
  const node = window.LiteGraph.createNode("DVLoadVideo");
  node.pos = [100, 100];
  window.app.graph.add(node);
  const widget = node.widgets.find((w) => w.name === "video");
  widget.value = file;
  widget.callback?.(file);
  await new Promise((r) => setTimeout(r, 3000));
  const media = (node.widgets ?? []).flatMap((w) => [...(w.element?.querySelectorAll?.("video, img") ?? [])]);
  const src = media[0]?.src ?? null;
  return { kind: media[0]?.tagName?.toLowerCase() ?? null, src, http: src ? (await fetch(src)).status : null,
           widgets: node.widgets.map((w) => w.name) };
}, file);
await page.screenshot({ path: path.join(shots, `load-${file}.png`) });
console.log(JSON.stringify({ ...result, errors }));
await browser.close();
