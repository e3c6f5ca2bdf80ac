// Loads the editor with the pack, then checks its extension: loaded without console errors of ours, and
// DVSampler's frame-count helper snapping num_frames and flagging width for the wired model's family.
// Usage: node editor.mjs <comfy url> <screenshot dir> <UI workflow json>
import { openEditor } from "./comfy_page.mjs";
import fs from "node:fs";
import path from "node:path";

const [url, shots, workflowFile] = process.argv.slice(2);
const workflow = JSON.parse(fs.readFileSync(workflowFile, "utf8"));
const { browser, page, errors } = await openEditor(url, { width: 1500, height: 900 });
const extensions = await page.evaluate(async () => (await (await fetch("/extensions")).json()));
// What the editor shows for each of the pack's nodes: its description (the node's tooltip) and category.
const nodeDefs = await page.evaluate(() => Object.entries(window.LiteGraph.registered_node_types)
  .filter(([name]) => name.startsWith("DV"))
  .map(([name, type]) => ({ name, description: type.nodeData?.description ?? "", category: type.nodeData?.category ?? type.category ?? "" })));
await page.evaluate(async (wf) => { await window.app.loadGraphData(wf, true, true, "editor-test"); }, workflow);
await page.waitForTimeout(2000);
const sampler = async () => page.evaluate(() => {
  const node = window.app.graph._nodes.find((n) => n.comfyClass === "DVSampler");
  const value = (name) => node.widgets.find((w) => w.name === name);
  return { family: node.dvFamilyRule?.id ?? null, variant: node.dvFamilyRule?.variant ?? null, frames: value("num_frames").value, widthLabel: value("width").label ?? null };
});
const before = await sampler();
const setWidget = async (name, v) => page.evaluate(([name, v]) => {
  const node = window.app.graph._nodes.find((n) => n.comfyClass === "DVSampler");
  const widget = node.widgets.find((w) => w.name === name);
  widget.value = v;
  widget.callback?.(v);
}, [name, v]);
await setWidget("num_frames", 50);
await setWidget("width", 720);
await page.waitForTimeout(1000);
const after = await sampler();
await page.screenshot({ path: path.join(shots, "editor.png") });
console.log(JSON.stringify({ extensions, nodeDefs, before, after, errors }));
await browser.close();
