// Plays files the server serves (/view URLs) in <video> elements of the editor's page, with sound on, and
// reports what Chromium decoded of each: audio and video bytes, duration, media error.
// Usage: node play_sound.mjs <comfy url> <screenshot dir> <view path>...
import { openEditor } from "./comfy_page.mjs";
import path from "node:path";

const [url, shots, ...views] = process.argv.slice(2);
const { browser, page, errors } = await openEditor(url, {
  extraArgs: ["--autoplay-policy=no-user-gesture-required"],
});
const played = {};
for (const view of views) {
  played[view] = await page.evaluate(async (view) => {
    const video = document.createElement("video");
    video.muted = false;
    video.volume = 1;
    video.src = view;
    document.body.appendChild(video);
    const ended = new Promise((resolve) => {
      video.addEventListener("ended", () => resolve("ended"));
      video.addEventListener("error", () => resolve("error"));
      setTimeout(() => resolve("timeout"), 20000);
    });
    let playError = null;
    try {
      await video.play();
    } catch (e) {
      playError = String(e);
    }
    const how = await ended;
    const result = {
      how, playError, mediaError: video.error?.code ?? null, duration: video.duration,
      audioBytes: video.webkitAudioDecodedByteCount, videoBytes: video.webkitVideoDecodedByteCount,
    };
    video.remove();
    return result;
  }, view);
}
await page.screenshot({ path: path.join(shots, "sound.png") });
console.log(JSON.stringify({ played, errors }));
await browser.close();
