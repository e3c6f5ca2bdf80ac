// ComfyUI-DiffusersVideo: DVSaveLatent shows the file it wrote (the stock frontend shows nothing for latents),
// as the name DVLoadLatent lists it under, so resuming a decode is a matter of picking that name.
import { app } from "../../../scripts/app.js";

function showSaved(node, text) {
  let widget = node.widgets?.find((w) => w.name === "dv_saved");
  if (!widget) {
    const box = document.createElement("div");
    box.style.cssText = "font-size:11px;opacity:0.8;word-break:break-all;padding:2px 4px;";
    widget = node.addDOMWidget("dv_saved", "text", box, { serialize: false, hideOnZoom: false });
  }
  widget.element.textContent = text ? `saved: ${text}` : "";
  node.setDirtyCanvas?.(true, true);
}

app.registerExtension({
  name: "DiffusersVideo.Latents",
  nodeCreated(node) {
    if (node.comfyClass !== "DVSaveLatent") return;
    const onExecuted = node.onExecuted;
    node.onExecuted = function (...args) {
      const result = onExecuted?.apply(this, args);
      showSaved(node, args[0]?.text?.[0]);
      return result;
    };
  },
});
