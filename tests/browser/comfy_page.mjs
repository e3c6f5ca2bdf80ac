// Opening the real ComfyUI frontend in headless Chromium, shared by the browser test scripts
// (recipe: shared/NOTES.md).
import { chromium } from "playwright-core";

export async function openEditor(url, { width = 1400, height = 900, extraArgs = [] } = {}) {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync", ...extraArgs],
  });
  const page = await browser.newPage({ viewport: { width, height } });
  const errors = [];
  page.on("pageerror", (e) => errors.push(`pageerror: ${e.message}`));
  page.on("console", (m) => {
    if (m.type() === "error") errors.push(`console: ${m.text()} @ ${m.location()?.url ?? ""}`);
  });
  // Without this the template browser opens over the canvas on a fresh user directory.
  await page.request.post(`${url}/settings/Comfy.TutorialCompleted`, { data: "true" });
  await page.goto(url);
  await page.waitForFunction(
    () => window.app?.canvas && window.app.graph && window.app.extensionManager?.workflow?.activeWorkflow,
    null, { timeout: 90000 });
  await page.waitForTimeout(1500);
  return { browser, page, errors };
}
