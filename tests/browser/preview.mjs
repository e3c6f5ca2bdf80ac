// Runs a workflow in the real frontend (queued like the Run button) and reports the preview the
// DVVideoCombine node shows afterwards: the element, its source's HTTP status, and the video's duration.
// Usage: node preview.mjs <comfy url> <screenshot dir> <UI workflow json> <label>
import { openEditor } from "./comfy_page.mjs";
import fs from "node:fs";
import path from "node:path";

const [url, shots, workflowFile, label] = process.argv.slice(2);
const workflow = JSON.parse(fs.readFileSync(workflowFile, "utf8"));
const { browser, page, errors } = await openEditor(url, { width: 1600, height: 900, extraArgs: ["--autoplay-policy=no-user-gesture-required"] });
await page.evaluate(async (wf) => { await window.app.loadGraphData(wf, true, true, "preview-test"); }, workflow);
await page.waitForTimeout(1000);
const promptId = await page.evaluate(async () => {
  const prompt = await window.app.graphToPrompt();
  return (await window.comfyAPI.api.api.queuePrompt(0, prompt)).prompt_id;
});
let status = null;
for (let i = 0; i < 480 && !status; i++) {
  await page.waitForTimeout(500);
  status = await page.evaluate(async (id) => (await (await fetch(`/history/${id}`)).json())[id]?.status?.status_str ?? null, promptId);
}
await page.waitForTimeout(5000);  // the extension adds its own preview after ~3 s where the frontend shows none
const preview = await page.evaluate(async () => {
  const node = window.app.graph._nodes.find((n) => n.comfyClass === "DVVideoCombine");
  const videos = (node.widgets ?? []).flatMap((w) => [...(w.element?.querySelectorAll?.("video") ?? [])]);
  const images = (node.widgets ?? []).flatMap((w) => [...(w.element?.querySelectorAll?.("img") ?? [])]);
  const canvasImages = (node.imgs ?? []).map((img) => img.src);
  const src = videos[0]?.src ?? images[0]?.src ?? canvasImages[0] ?? null;
  let http = null;
  if (src) http = (await fetch(src)).status;
  let duration = null;
  if (videos[0]) {
    const v = videos[0];
    if (!(v.readyState >= 1)) await new Promise((resolve) => { v.onloadedmetadata = resolve; setTimeout(resolve, 5000); });
    duration = v.duration;
  }
  return { kind: videos.length ? "video" : images.length ? "img" : canvasImages.length ? "canvas-img" : null,
           src, http, duration, loop: videos[0]?.loop ?? null, muted: videos[0]?.muted ?? null,
           naturalWidth: images[0]?.naturalWidth ?? null };
});
await page.screenshot({ path: path.join(shots, `preview-${label}.png`) });
console.log(JSON.stringify({ status, preview, errors }));
await browser.close();
