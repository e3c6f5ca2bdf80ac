// ComfyUI-DiffusersVideo editor helpers.
// - DVSampler: when the wired model's family needs 4k+1 (8k+1, 6k+1) frames, num_frames snaps to the nearest
//   count it can make, and width/height show when they are not a multiple the family takes. The rules are the
//   variant's where the server can tell it from the model's config (Wan2.2 TI2V-5B: multiples of 32). The
//   server checks everything again; this only saves a queue round trip.
// - DVVideoCombine / DVLoadVideo: the frontend's own video preview loops, starts muted and plays on its own.
// - DVLoadVideo: an upload button that also takes gif and animated webp (the stock one takes video/* only).
import { app } from "../../../scripts/app.js";
import { api } from "../../../scripts/api.js";

const LOADERS = new Set(["DVPipelineLoader", "DVModelLoader", "DVCheckpointLoader"]);
const LOADER_WIDGET = { DVPipelineLoader: "model", DVModelLoader: "model", DVCheckpointLoader: "ckpt_name" };
let families = null;
const familyOfChoice = new Map(); // "loader|name" -> {family, variant} (family null when unknown)

async function loadFamilies() {
  if (!families) {
    const response = await api.fetchApi("/dv/families");
    families = response.ok ? await response.json() : {};
  }
  return families;
}

async function familyOf(loader, name) {
  const key = `${loader}|${name}`;
  if (!familyOfChoice.has(key)) {
    const query = new URLSearchParams({ loader, name });
    const response = await api.fetchApi(`/dv/model_family?${query}`);
    familyOfChoice.set(key, response.ok ? await response.json() : { family: null, variant: null });
  }
  return familyOfChoice.get(key);
}

// Walks up the "model" input through the nodes that pass a model on (LoRA, caches, offload, ...) to its loader.
function modelLoader(node) {
  const seen = new Set();
  let current = node;
  while (current && !seen.has(current.id)) {
    seen.add(current.id);
    const slot = current.inputs?.findIndex((input) => input.name === "model") ?? -1;
    if (slot < 0) return null;
    const upstream = current.getInputNode(slot);
    if (!upstream) return null;
    if (LOADERS.has(upstream.comfyClass)) return upstream;
    current = upstream;
  }
  return null;
}

export function nearestValidFrames(value, rule) {
  const { frame_multiple: m, frame_offset: offset, frame_minimum: minimum } = rule;
  const k = Math.max(0, Math.round((value - offset) / m));
  return Math.max(minimum, m * k + offset);
}

async function familyRule(node) {
  const loader = modelLoader(node);
  if (!loader) return null;
  const widget = loader.widgets?.find((w) => w.name === LOADER_WIDGET[loader.comfyClass]);
  if (!widget?.value) return null;
  const { family: id, variant } = await familyOf(loader.comfyClass, widget.value);
  const all = await loadFamilies();
  if (!id || !all[id]) return null;
  return { id, variant, ...(all[id].variants?.[variant] ?? all[id]) };
}

async function checkSampler(node) {
  const rule = await familyRule(node);
  node.dvFamilyRule = rule;
  const frames = node.widgets?.find((w) => w.name === "num_frames");
  if (rule && frames) {
    const valid = nearestValidFrames(frames.value, rule);
    if (valid !== frames.value) frames.value = valid;
  }
  for (const name of ["width", "height"]) {
    const widget = node.widgets?.find((w) => w.name === name);
    if (!widget) continue;
    const bad = rule && widget.value % rule.size_multiple !== 0;
    widget.label = bad ? `${name} (${rule.label}: multiple of ${rule.size_multiple})` : undefined;
  }
  node.setDirtyCanvas?.(true, true);
}

function attachFrameHelper(node) {
  for (const name of ["num_frames", "width", "height"]) {
    const widget = node.widgets?.find((w) => w.name === name);
    if (!widget) continue;
    const callback = widget.callback;
    widget.callback = function (...args) {
      const result = callback?.apply(this, args);
      checkSampler(node);
      return result;
    };
  }
  const onConnectionsChange = node.onConnectionsChange;
  node.onConnectionsChange = function (...args) {
    const result = onConnectionsChange?.apply(this, args);
    checkSampler(node);
    return result;
  };
}

// The frontend builds the preview <video> itself; make it loop, start muted and play, as a video preview should.
function attachPlayerDefaults(node) {
  const onExecuted = node.onExecuted;
  node.onExecuted = function (...args) {
    const result = onExecuted?.apply(this, args);
    const output = args[0]?.images?.[0];
    // The frontend builds (and rebuilds) its preview element after this returns: tune it as it appears, and
    // show the file ourselves where it shows nothing (it has no preview for gif outputs).
    let tries = 0;
    const timer = setInterval(() => {
      tunePreviews(node);
      if (++tries >= 20) {
        clearInterval(timer);
        if (output && !hasPreview(node)) showOwnPreview(node, output);
      }
    }, 150);
    return result;
  };
}

function previewElements(node) {
  return (node.widgets ?? []).flatMap((w) => [...(w.element?.querySelectorAll?.("video, img") ?? [])]);
}

function hasPreview(node) {
  return previewElements(node).length > 0 || (node.imgs?.length ?? 0) > 0;
}

function showOwnPreview(node, file) {
  const params = new URLSearchParams({ filename: file.filename, subfolder: file.subfolder ?? "", type: file.type ?? "output" });
  const src = api.apiURL(`/view?${params}`);
  const isVideo = /\.(mp4|webm|mov|mkv)$/i.test(file.filename);
  let widget = node.widgets?.find((w) => w.name === "dv_preview");
  if (!widget) {
    const box = document.createElement("div");
    box.style.cssText = "width:100%;height:100%;display:flex;justify-content:center;";
    widget = node.addDOMWidget("dv_preview", "preview", box, { serialize: false, hideOnZoom: false });
  }
  const media = document.createElement(isVideo ? "video" : "img");
  media.style.cssText = "max-width:100%;max-height:100%;object-fit:contain;";
  if (isVideo) Object.assign(media, { controls: true, loop: true, muted: true, autoplay: true });
  media.src = src;
  widget.element.replaceChildren(media);
  node.setSize?.([node.size[0], Math.max(node.size[1], node.computeSize()[1] + 200)]);
  node.setDirtyCanvas?.(true, true);
}

function tunePreviews(node) {
  for (const widget of node.widgets ?? []) {
    const video = widget.element?.querySelector?.("video") ?? (widget.element instanceof HTMLVideoElement ? widget.element : null);
    if (!video) continue;
    video.loop = true;
    video.muted = true;
    video.autoplay = true;
    video.play?.().catch(() => {});
  }
}

// DVLoadVideo: the chosen input file, previewed as it is picked (the frontend previews mp4/webm itself and
// nothing for gif/webp; its preview gets the same loop/mute defaults).
function attachInputPreview(node) {
  const widget = node.widgets?.find((w) => w.name === "video");
  if (!widget) return;
  const refresh = () => {
    let tries = 0;
    const timer = setInterval(() => {
      const ours = node.widgets?.find((w) => w.name === "dv_preview");
      const theirs = previewElements(node).filter((el) => !ours?.element?.contains(el));
      tunePreviews(node);
      if (++tries >= 8) {
        clearInterval(timer);
        if (!widget.value) return;
        if (theirs.length === 0) showOwnPreview(node, { filename: widget.value, subfolder: "", type: "input" });
        else ours?.element?.replaceChildren();  // the frontend shows this one: hide ours
      }
    }, 150);
  };
  const callback = widget.callback;
  widget.callback = function (...args) {
    const result = callback?.apply(this, args);
    refresh();
    return result;
  };
  refresh();
}

// DVLoadVideo: the stock upload button (core's video upload) takes video/* files only; this one takes every
// format the node reads, gif and animated webp included, and uploads them the same way (POST /upload/image).
const UPLOAD_ACCEPT = ".mp4,.webm,.mov,.mkv,.gif,.webp,video/*,image/gif,image/webp";
let uploadInputs = 0;  // node ids are not known yet when nodes are created: the inputs get ids of their own

function attachUpload(node) {
  const widget = node.widgets?.find((w) => w.name === "video");
  if (!widget) return;
  const input = document.createElement("input");
  Object.assign(input, { type: "file", accept: UPLOAD_ACCEPT });
  input.style.display = "none";
  input.id = `dv-upload-${++uploadInputs}`;
  node.dvUploadInput = input.id;
  document.body.append(input);
  input.onchange = async () => {
    const file = input.files?.[0];
    if (!file) return;
    const body = new FormData();
    body.append("image", file);
    body.append("type", "input");
    const response = await api.fetchApi("/upload/image", { method: "POST", body });
    input.value = "";
    if (!response.ok) {
      console.warn(`DVLoadVideo: upload of ${file.name} failed (HTTP ${response.status})`);
      return;
    }
    const { name, subfolder } = await response.json();
    const value = subfolder ? `${subfolder}/${name}` : name;
    const values = widget.options?.values;
    if (Array.isArray(values) && !values.includes(value)) values.push(value);
    widget.value = value;
    widget.callback?.(value);
  };
  const button = node.addWidget("button", "upload gif, webp or video", null, () => input.click());
  button.serialize = false;  // not a value of the node: saved workflows keep their widget order
  button.options = { ...(button.options ?? {}), serialize: false };
  const onRemoved = node.onRemoved;
  node.onRemoved = function (...args) {
    input.remove();
    return onRemoved?.apply(this, args);
  };
}

app.registerExtension({
  name: "DiffusersVideo.Editor",
  async setup() {
    await loadFamilies();
  },
  nodeCreated(node) {
    if (node.comfyClass === "DVSampler") attachFrameHelper(node);
    if (node.comfyClass === "DVVideoCombine") attachPlayerDefaults(node);
    if (node.comfyClass === "DVLoadVideo") {
      attachInputPreview(node);
      attachUpload(node);
    }
  },
  async afterConfigureGraph() {
    for (const node of app.graph._nodes) {
      if (node.comfyClass === "DVSampler") await checkSampler(node);
    }
  },
});
