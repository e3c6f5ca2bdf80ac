// Adds a DVLoadVideo node and uploads a file through the pack's upload button (its hidden file input), then
// reports the widget's value, the node's widgets and whether the workflow would save a value for the button.
// Usage: node upload.mjs <comfy url> <screenshot dir> <file to upload>
import { openEditor } from "./comfy_page.mjs";
import path from "node:path";

const [url, shots, file] = process.argv.slice(2);
const { browser, page, errors } = await openEditor(url, { width: 1400, height: 900 });
const inputId = await page.evaluate(() => {
  window.app.graph.clear();
  const node = window.LiteGraph.createNode("DVLoadVideo");
  node.pos = [100, 100];
  window.app.graph.add(node);
  return node.dvUploadInput;
});
const accept = await page.getAttribute(`#${inputId}`, "accept");
await page.setInputFiles(`#${inputId}`, file);
await page.waitForFunction((name) => {
  const node = window.app.graph._nodes.find((n) => n.comfyClass === "DVLoadVideo");
  return node.widgets.find((w) => w.name === "video").value === name;
}, path.basename(file), { timeout: 20000 }).catch(() => {});
const result = await page.evaluate(() => {
  const node = window.app.graph._nodes.find((n) => n.comfyClass === "DVLoadVideo");
  const saved = node.serialize();
  return { value: node.widgets.find((w) => w.name === "video").value, widgets: node.widgets.map((w) => w.name),
           savedValues: saved.widgets_values };
});
await page.screenshot({ path: path.join(shots, "upload.png") });
console.log(JSON.stringify({ ...result, accept, errors }));
await browser.close();
