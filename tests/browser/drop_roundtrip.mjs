// Drops each file onto a running ComfyUI frontend (as app.handleFile does for a real drop) and prints, per
// file, the node types of the graph it restored ([] when the frontend read no workflow from it).
// Usage: node drop_roundtrip.mjs <comfy url> <screenshot dir> <file>...
import { openEditor } from "./comfy_page.mjs";
import fs from "node:fs";
import path from "node:path";

const [url, shots, ...files] = process.argv.slice(2);
const TYPES = { ".mp4": "video/mp4", ".webm": "video/webm", ".gif": "image/gif", ".webp": "image/webp", ".png": "image/png" };
const { browser, page, errors } = await openEditor(url, { width: 1400, height: 900 });
const restored = {};
for (const file of files) {
  await page.evaluate(() => window.app.graph.clear());
  const name = path.basename(file);
  const b64 = fs.readFileSync(file).toString("base64");
  await page.evaluate(async ({ b64, name, type }) => {
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    await window.app.handleFile(new File([bytes], name, { type }));
  }, { b64, name, type: TYPES[path.extname(name)] });
  let types = [];
  for (let i = 0; i < 40 && !types.length; i++) {  // video files load asynchronously
    await page.waitForTimeout(250);
    types = await page.evaluate(() => window.app.graph._nodes.map((n) => n.type));
  }
  restored[name] = types;
  await page.screenshot({ path: path.join(shots, `${name}.png`) });
}
console.log(JSON.stringify({ restored, errors }));
await browser.close();
