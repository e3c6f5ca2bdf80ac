"""Shipped example workflows: the UI file and its API twin are the same graph, and they really run."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from diffusers_video import NODE_CLASS_MAPPINGS
from diffusers_video.runner import cli
from diffusers_video.runner.workflow_format import ui_to_api
from diffusers_video.video_io.metadata import read_metadata
from diffusers_video.video_io.reader import read_video

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "example_workflows")
NAMES = sorted(f[:-5] for f in os.listdir(EXAMPLES) if f.endswith(".json"))


def test_every_example_has_an_api_twin():
    assert NAMES, "no example workflows"
    for name in NAMES:
        assert os.path.isfile(os.path.join(EXAMPLES, "api", f"{name}.json")), name


@pytest.mark.parametrize("name", NAMES)
def test_ui_file_converts_to_its_api_twin(name):
    with open(os.path.join(EXAMPLES, f"{name}.json"), encoding="utf-8") as f:
        ui = json.load(f)
    with open(os.path.join(EXAMPLES, "api", f"{name}.json"), encoding="utf-8") as f:
        api = json.load(f)
    converted = ui_to_api(ui, NODE_CLASS_MAPPINGS)
    assert {k: (v["class_type"], v["inputs"]) for k, v in converted.items()} == {
        k: (v["class_type"], v["inputs"]) for k, v in api.items()}


def test_cogvideox_example_runs_through_dv_run(tiny_models_dir, tmp_path):
    """The API twin with only the model swapped for the tiny one and a small size and step count."""
    out = tmp_path / "out"
    code = cli.main(["run", os.path.join(EXAMPLES, "api", "cogvideox_text_to_video.json"), "--in-process",
                     "--set", "1.model=\"tiny-cogvideox\"", "--set", "3.num_inference_steps=2",
                     "--set", "3.width=64", "--set", "3.height=48", "--set", "3.num_frames=9",
                     "--extra-pnginfo", os.path.join(EXAMPLES, "cogvideox_text_to_video.json"),
                     "--output-dir", str(out), "--models-dir", tiny_models_dir])
    assert code == 0
    path = out / "CogVideoX" / "text_to_video_00001.mp4"
    frames, fps = read_video(str(path))
    assert frames.shape == (9, 48, 64, 3) and fps == 8.0
    assert read_metadata(str(path))["workflow"]["nodes"][0]["type"] == "DVPipelineLoader"


def test_demo_renders_the_shipped_example_to_a_playable_mp4(tmp_path):
    """The README's main-job command, as a newcomer runs it: the example at its own size and frame count
    (720x480, 49 frames, 8 fps) on a tiny model, with 2 steps instead of 50."""
    out = tmp_path / "demo"
    done = subprocess.run([sys.executable, "-m", "diffusers_video.runner", "demo", "--output-dir", str(out),
                           "--steps", "2"], capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    path = out / "CogVideoX" / "text_to_video_00001.mp4"
    assert f"wrote {path}" in done.stdout
    frames, fps = read_video(str(path))
    assert frames.shape == (49, 480, 720, 3) and fps == 8.0
    metadata = read_metadata(str(path))
    assert metadata["prompt"]["1"]["inputs"]["model"] == "tiny-cogvideox"
    assert {n["type"] for n in metadata["workflow"]["nodes"]} >= {"DVSampler", "DVVideoCombine"}
