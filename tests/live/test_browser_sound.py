"""Sound in the browser (issue 15): the LTX-2 example's mp4, served by the real ComfyUI, plays in headless
Chromium with its audio decoded (a silent mp4 beside it decodes no audio bytes, so the measure is not vacuous),
and dropped onto the editor it restores the workflow that made it.
Skipped without COMFYUI_PATH, Chromium, node or playwright-core (`npm install --prefix tests/browser`)."""

from __future__ import annotations

import urllib.parse

import torch

from .conftest import run_browser_script

EXAMPLE = "ltx2_text_to_video"


def _view(file: dict) -> str:
    return "/view?" + urllib.parse.urlencode({k: file[k] for k in ("filename", "subfolder", "type")})


def test_the_ltx2_example_plays_with_sound(comfy, browser_scripts, tmp_path, monkeypatch):
    from diffusers_video.nodes.video import DVVideoCombine
    from example_runs import tiny_prompt

    prompt, workflow = tiny_prompt(EXAMPLE, str(comfy.models), str(comfy.base / "input"))
    entry = comfy.run(prompt, workflow)
    (made,) = [item for ui in entry["outputs"].values() for item in ui.get("images", [])]
    assert made["filename"].endswith(".mp4"), made
    # The control: the same kind of file without sound, written into the server's output folder.
    monkeypatch.setenv("DV_OUTPUT_DIR", str(comfy.output))
    silent = DVVideoCombine().combine(torch.rand(9, 64, 96, 3), 8.0, "sound_control/silent", "video/h264-mp4", 19, 0,
                                      False, True)["ui"]["images"][0]
    shots = tmp_path / "shots"
    shots.mkdir()
    result = run_browser_script(browser_scripts, "play_sound.mjs", comfy.url, str(shots), _view(made), _view(silent))
    sound, control = result["played"][_view(made)], result["played"][_view(silent)]
    assert sound["how"] == "ended" and sound["mediaError"] is None and sound["playError"] is None, sound
    assert sound["audioBytes"] > 0 and sound["videoBytes"] > 0, sound
    assert control["how"] == "ended" and control["audioBytes"] == 0 and control["videoBytes"] > 0, control
    # The same file dropped onto the editor gives back its graph.
    path = comfy.output / made["subfolder"] / made["filename"]
    dropped = run_browser_script(browser_scripts, "drop_roundtrip.mjs", comfy.url, str(shots), str(path))
    expected = sorted(node["type"] for node in workflow["nodes"])
    assert sorted(dropped["restored"][made["filename"]]) == expected, dropped["restored"]
