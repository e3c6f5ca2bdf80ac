"""Drag-and-drop round trip in the real ComfyUI frontend (headless Chromium): each format DVVideoCombine
writes gives back the workflow that made it. Skipped without COMFYUI_PATH, Chromium, node or playwright-core
(`npm install --prefix tests/browser`)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from .conftest import KNOWN_PAGE_ERRORS, run_browser_script


def test_every_format_restores_its_workflow_on_drop(comfy, browser_scripts, tmp_path, monkeypatch):
    from diffusers_video.nodes.video import DVVideoCombine
    from diffusers_video.video_io.formats import FORMATS

    examples = Path(__file__).resolve().parents[2] / "example_workflows"
    workflow = json.loads((examples / "cogvideox_text_to_video.json").read_text())
    prompt = json.loads((examples / "api" / "cogvideox_text_to_video.json").read_text())
    monkeypatch.setenv("DV_OUTPUT_DIR", str(tmp_path / "out"))
    monkeypatch.setenv("DV_DISABLE_METADATA", "0")
    files = []
    for fmt in FORMATS:
        path = DVVideoCombine().combine(torch.rand(6, 48, 64, 3), 8.0, "drop", fmt, 19, 0, False, True, prompt,
                                        {"workflow": workflow})["result"][0]
        files.append(path)
        if FORMATS[fmt].companion_png:
            files.append(os.path.splitext(path)[0] + ".png")
    # Sound muxed in must not cost the workflow.
    tone = torch.sin(torch.arange(16000) / 16000 * 2 * torch.pi * 440)[None, None] * 0.5
    files.append(DVVideoCombine().combine(torch.rand(6, 48, 64, 3), 8.0, "drop_sound", "video/h264-mp4", 19, 0,
                                          False, True, prompt, {"workflow": workflow},
                                          audio={"waveform": tone, "sample_rate": 16000})["result"][0])
    shots = tmp_path / "shots"
    shots.mkdir()
    result = run_browser_script(browser_scripts, "drop_roundtrip.mjs", comfy.url, str(shots), *files)
    expected = [node["type"] for node in workflow["nodes"]]
    for path in files:
        name = os.path.basename(path)
        if name.endswith(".gif"):
            continue  # the frontend reads nothing from a gif: its PNG (checked below) restores the graph
        assert sorted(result["restored"][name]) == sorted(expected), f"{name}: {result['restored'][name]}"
    ours = [e for e in result["errors"] if not any(known in e for known in KNOWN_PAGE_ERRORS)
            and ("diffusers_video" in e or "/dv/" in e)]
    assert ours == []
