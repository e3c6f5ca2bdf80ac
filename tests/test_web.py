"""The editor extension without a browser: the JS files parse, the pack points ComfyUI at them, and the
server side of the frame-count helper answers from the models' own files."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPTS = sorted([*REPO.glob("web/**/*.js"), *REPO.glob("tests/browser/*.mjs")])


def test_the_pack_serves_its_web_directory():
    import diffusers_video

    assert diffusers_video.WEB_DIRECTORY == "./web"
    assert any(p.name == "diffusers_video.js" for p in SCRIPTS)


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_script_parses(script):
    if not shutil.which("node"):
        pytest.skip("node is not installed")
    done = subprocess.run(["node", "--check", str(script)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_family_of_each_loader_choice(tiny_models_dir):
    from diffusers_video.model_loaders.loading import family_of_choice
    from diffusers_video.tiny_models.cache import install_into_models_dir

    install_into_models_dir(tiny_models_dir, "ltx", "tiny-ltx")
    assert family_of_choice("DVPipelineLoader", "tiny-ltx").id == "ltx"
    assert family_of_choice("DVPipelineLoader", "tiny-cogvideox").id == "cogvideox"
    assert family_of_choice("DVModelLoader", "tiny-ltx/transformer").id == "ltx"
    assert family_of_choice("DVCheckpointLoader", "anything.safetensors").id == "animatediff"
    assert family_of_choice("DVPipelineLoader", "no-such-folder") is None
    assert family_of_choice("DVPipelineLoader", os.path.join("..", "escape")) is None
    assert family_of_choice("SomethingElse", "tiny-ltx") is None
