"""Shipped example workflows: the UI file and its API twin are the same graph, and they really run."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from diffusers_video import NODE_CLASS_MAPPINGS as PACK_NODES
from diffusers_video.runner import cli
from diffusers_video.runner.core_nodes import CORE_NODES
from diffusers_video.runner.workflow_format import ui_to_api
from diffusers_video.video_io.metadata import read_metadata
from diffusers_video.video_io.reader import read_video
from example_runs import EXAMPLES, TINY_RUNS, example_names, tiny_prompt

NODE_CLASS_MAPPINGS = {**CORE_NODES, **PACK_NODES}
NAMES = example_names()


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


def test_every_example_has_a_tiny_run():
    assert sorted(TINY_RUNS) == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_example_runs_through_dv_run(name, tiny_models_dir, tmp_path, monkeypatch):
    """Run in-process with a recording previewer in place of ComfyUI's: every step hands over a preview
    latent in a layout ComfyUI's previewers take, [B, C, F, H, W] (or [frames, C, H, W] for the image
    pipelines run per frame), never LTX's packed tokens."""
    from diffusers_video import host

    previews: list[tuple[str, tuple[int, ...]]] = []
    monkeypatch.setattr(host, "latent_previewer", lambda fmt: None if fmt is None else host.safe_previewer(
        lambda x0: previews.append((fmt, tuple(x0.shape))), None, fmt))
    prompt, _ = tiny_prompt(name, tiny_models_dir, str(tmp_path / "input"))
    sampler_inputs = TINY_RUNS[name][1]
    workflow_file = tmp_path / "prompt.json"
    workflow_file.write_text(json.dumps(prompt))
    out = tmp_path / "out"
    assert cli.main(["run", str(workflow_file), "--in-process", "--output-dir", str(out), "--input-dir",
                     str(tmp_path / "input"), "--models-dir", tiny_models_dir, "--extra-pnginfo",
                     os.path.join(EXAMPLES, f"{name}.json")]) == 0
    combine = next(node for node in prompt.values() if node["class_type"] == "DVVideoCombine")["inputs"]
    files = [p for p in out.rglob("*") if p.is_file()]
    written = [p for p in files if p.suffix != ".png"]  # a gif's first-frame PNG (with the workflow) aside
    assert len(written) == 1 and written[0].name.startswith(os.path.basename(combine["filename_prefix"]))
    assert len(files) == (2 if written[0].suffix == ".gif" else 1)
    frames, fps = read_video(str(written[0]))
    assert frames.shape[1:] == (sampler_inputs["height"], sampler_inputs["width"], 3)
    assert frames.shape[0] >= sampler_inputs["num_frames"]
    tolerance = 0.05 if written[0].suffix in (".gif", ".webp") else 1e-6  # gif stores centiseconds, webp ms
    assert abs(fps - combine["fps"]) <= tolerance * combine["fps"]
    with open(os.path.join(EXAMPLES, f"{name}.json"), encoding="utf-8") as f:
        shipped = json.load(f)
    embedded = read_metadata(str(written[0]))["workflow"]
    assert [n["type"] for n in embedded["nodes"]] == [n["type"] for n in shipped["nodes"]]
    for fmt, shape in previews:
        assert len(shape) in (4, 5), (fmt, shape)
        factor = sampler_inputs["height"] // shape[-2]
        assert shape[-2] * factor == sampler_inputs["height"] and shape[-1] * factor == sampler_inputs["width"]
    with_format = {"cogvideox_text_to_video", "cogvideox_image_to_video", "cogvideox_video_to_video",
                   "cogvideox_fun_control",
                   "allegro_text_to_video",  # ComfyUI has no latent format for the Allegro VAE either
                   "easyanimate_text_to_video", "easyanimate_control",  # nor for EasyAnimate's Magvit VAE
                   "easyanimate_image_to_video"}
    assert bool(previews) == (name not in with_format), f"{name}: {len(previews)} previews"


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


@pytest.mark.parametrize("name", NAMES)
def test_every_example_has_a_thumbnail_for_the_template_browser(name):
    from PIL import Image

    path = os.path.join(EXAMPLES, f"{name}.jpg")
    assert os.path.isfile(path), f"run python -m diffusers_video.runner.thumbnails ({name}.jpg is missing)"
    with Image.open(path) as image:
        assert image.format == "JPEG" and image.size == (512, 512)
