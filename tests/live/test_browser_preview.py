"""After a run in the real frontend, DVVideoCombine's node shows the video it wrote, in every format, and the
preview's source loads. Skipped without COMFYUI_PATH, Chromium, node or playwright-core."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .conftest import KNOWN_PAGE_ERRORS, run_browser_script

FORMATS = ["video/h264-mp4", "video/vp9-webm", "image/gif", "image/webp"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_the_combiner_shows_what_it_wrote(comfy, browser_scripts, tmp_path, fmt):
    examples = Path(__file__).resolve().parents[2] / "example_workflows"
    workflow = json.loads((examples / "cogvideox_text_to_video.json").read_text())
    for node in workflow["nodes"]:
        if node["type"] == "DVPipelineLoader":
            node["widgets_values"][0] = "tiny-cogvideox"
        elif node["type"] == "DVSampler":
            node["widgets_values"][0:4] = [64, 48, 9, 2]  # width, height, num_frames, steps
        elif node["type"] == "DVVideoCombine":
            node["widgets_values"][2] = fmt
    workflow_file = tmp_path / "workflow.json"
    workflow_file.write_text(json.dumps(workflow))
    label = fmt.split("/")[1]
    result = run_browser_script(browser_scripts, "preview.mjs", comfy.url, str(tmp_path), str(workflow_file), label)
    assert result["status"] == "success", result
    preview = result["preview"]
    assert preview["kind"] is not None and preview["http"] == 200, preview
    if preview["kind"] == "video":
        assert abs(preview["duration"] - 9 / 8) < 0.2  # 9 frames at 8 fps
        assert preview["loop"] and preview["muted"]


@pytest.mark.parametrize("extension", ["mp4", "gif"])
def test_the_loader_previews_the_chosen_input(comfy, browser_scripts, tmp_path, extension):
    import torch
    from diffusers_video.video_io.formats import FORMATS
    from diffusers_video.video_io.writer import write_video

    fmt = next(f for f in FORMATS.values() if f.extension == extension)
    saved = write_video(torch.rand(6, 48, 64, 3), str(comfy.base / "input"), f"pick_{extension}", fmt, 8.0)
    result = run_browser_script(browser_scripts, "load_preview.mjs", comfy.url, str(tmp_path), saved.filename)
    assert result["kind"] == ("video" if extension == "mp4" else "img"), result
    assert result["http"] == 200 and "type=input" in result["src"]


def test_the_loader_uploads_gif_and_webp(comfy, browser_scripts, tmp_path):
    """The pack's upload button on DVLoadVideo takes a gif (the stock one offers video/* only): the file lands
    in the input folder, the widget names it, and the button adds no value to the saved workflow."""
    from PIL import Image

    gif = tmp_path / "uploaded_loop.gif"
    frames = [Image.new("RGB", (32, 24), (40 * i, 80, 160)) for i in range(4)]
    frames[0].save(gif, save_all=True, append_images=frames[1:], duration=125, loop=0)
    result = run_browser_script(browser_scripts, "upload.mjs", comfy.url, str(tmp_path), str(gif))
    assert "gif" in result["accept"] and "webp" in result["accept"]
    assert result["value"] == "uploaded_loop.gif", result
    assert (comfy.base / "input" / "uploaded_loop.gif").is_file()
    saved = result["savedValues"]
    assert "upload gif, webp or video" not in [str(v) for v in saved] and saved[0] == "uploaded_loop.gif", saved
    ours = [e for e in result["errors"] if not any(known in e for known in KNOWN_PAGE_ERRORS)
            and ("diffusers_video" in e or "/dv/" in e)]
    assert ours == []
