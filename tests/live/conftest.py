"""A real ComfyUI server with this pack loaded, for the live-host tests.

Skipped unless COMFYUI_PATH points at a ComfyUI checkout; COMFYUI_PYTHON names the interpreter that has
ComfyUI's requirements (torch with torchvision). The pack is loaded the way DESIGN.md prescribes: a
`custom_nodes:` entry of an extra_model_paths.yaml pointing at a folder that links to this repository.
"""

from __future__ import annotations

import os
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="session")
def comfy(tmp_path_factory):
    comfyui = os.environ.get("COMFYUI_PATH")
    if not comfyui or not os.path.isfile(os.path.join(comfyui, "main.py")):
        pytest.skip("live-host tests need COMFYUI_PATH (a ComfyUI checkout)")
    from diffusers_video.runner import comfy_client as client
    from diffusers_video.tiny_models.cache import install_into_models_dir

    base = tmp_path_factory.mktemp("comfy")
    custom_nodes = base / "custom_nodes"
    custom_nodes.mkdir()
    os.symlink(REPO, custom_nodes / "ComfyUI-DiffusersVideo")
    models = base / "models"
    install_into_models_dir(str(models), "cogvideox", "tiny-cogvideox")
    yaml_path = base / "extra_model_paths.yaml"
    yaml_path.write_text(f"dv_test:\n  base_path: {models}\n  diffusers: diffusers/\n"
                         f"  custom_nodes: {custom_nodes}\n")
    dirs = {name: base / name for name in ("output", "input", "temp", "user")}
    for path in dirs.values():
        path.mkdir()
    log_path = base / "comfyui.log"
    process, url = client.start_server(
        comfyui,
        extra_args=["--extra-model-paths-config", str(yaml_path), "--output-directory", str(dirs["output"]),
                    "--input-directory", str(dirs["input"]), "--temp-directory", str(dirs["temp"]),
                    "--user-directory", str(dirs["user"])],
        python=os.environ.get("COMFYUI_PYTHON", sys.executable),
        log_path=str(log_path),
    )
    try:
        yield {"url": url, "log": log_path, "output": dirs["output"], "models": models, "process": process}
    finally:
        client.stop_server(process)
