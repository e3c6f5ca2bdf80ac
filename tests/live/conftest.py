"""A real ComfyUI server with this pack loaded, shared by the live-host tests.

Skipped unless COMFYUI_PATH points at a ComfyUI checkout; COMFYUI_PYTHON names the interpreter that has
ComfyUI's requirements (torch with torchvision; default: this interpreter). Previews are on
(`--preview-method`, DV_LIVE_PREVIEW: latent2rgb by default; auto, none). DV_LIVE_FRONT_END_ROOT serves
another frontend (`--front-end-root`, e.g. the static folder of a newer comfyui-frontend-package wheel).
The pack is loaded the way DESIGN.md prescribes: a `custom_nodes:` entry of an extra_model_paths.yaml
pointing at a folder that links to this repository, next to a `diffusers:` entry holding the tiny CogVideoX.
Everything the server writes (outputs, temp, user settings) stays in a temporary folder; the checkout is not
touched.
"""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
PACK_FOLDER = "ComfyUI-DiffusersVideo"
START_TIMEOUT = 180


class LiveComfy:
    """A running ComfyUI: its URL, folders and log, and the few HTTP calls the tests make (urllib only)."""

    def __init__(self, url: str, base: Path, log_path: Path, startup_log: str, process=None, launch=None) -> None:
        self.url = url
        self.process = process
        self._launch = launch
        self.base = base
        self.log_path = log_path
        self.startup_log = startup_log  # the log as it was once the server answered (imports, no runs yet)
        self.output = base / "output"
        self.models = base / "models"
        self.custom_nodes = base / "custom_nodes"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def restart(self) -> None:
        """Stop the server and start it again on the same folders (nothing of the last run stays in memory)."""
        from diffusers_video.runner import comfy_client

        comfy_client.stop_server(self.process)
        self.process, self.url = self._launch()

    def request(self, path: str, payload: Any = None, timeout: float = 60) -> tuple[int, bytes]:
        """(HTTP status, body) of a GET, or of a POST with a JSON body when payload is given."""
        data = None if payload is None else json.dumps(payload).encode()
        headers = {"Content-Type": "application/json"} if data is not None else {}
        req = urllib.request.Request(self.url + path, data=data, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    def get_json(self, path: str) -> Any:
        status, body = self.request(path)
        assert status == 200, f"GET {path}: HTTP {status}: {body[:500]!r}"
        return json.loads(body)

    def post_json(self, path: str, payload: Any) -> tuple[int, Any]:
        status, body = self.request(path, payload)
        return status, (json.loads(body) if body.strip() else None)

    def queue(self, prompt: dict, workflow: dict | None = None) -> tuple[int, dict]:
        """POST /prompt the way the frontend does (the UI workflow in extra_pnginfo); (status, reply)."""
        extra = {"extra_pnginfo": {"workflow": workflow}} if workflow is not None else {}
        return self.post_json("/prompt", {"prompt": prompt, "client_id": uuid.uuid4().hex, "extra_data": extra})

    def queue_ok(self, prompt: dict, workflow: dict | None = None) -> str:
        status, reply = self.queue(prompt, workflow)
        assert status == 200, f"POST /prompt: HTTP {status}: {json.dumps(reply)[:2000]}"
        assert reply.get("node_errors") == {}, reply
        return reply["prompt_id"]

    def finished(self, prompt_id: str, timeout: float = 300) -> dict:
        """The /history entry of a prompt once it has finished, however it ended."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            entry = self.get_json(f"/history/{urllib.parse.quote(prompt_id)}").get(prompt_id)
            if entry and entry.get("status", {}).get("status_str") in ("success", "error"):
                return entry
            time.sleep(0.25)
        pytest.fail(f"prompt {prompt_id} did not finish within {timeout:.0f} s; log tail:\n{self.log()[-3000:]}")

    def run(self, prompt: dict, workflow: dict | None = None, timeout: float = 300) -> dict:
        """Queue a prompt and return its /history entry; fail with ComfyUI's error message if it failed."""
        entry = self.finished(self.queue_ok(prompt, workflow), timeout)
        status = entry["status"]
        if status["status_str"] != "success" or not status.get("completed"):
            errors = [data for kind, data in status.get("messages", []) if kind != "execution_cached"]
            details = [f"{d.get('node_type')} (node {d.get('node_id')}): {d.get('exception_message', '')}\n"
                       f"{''.join(d.get('traceback', []))}" for d in errors if "node_id" in d]
            pytest.fail("the prompt failed:\n" + ("\n".join(details) or json.dumps(status)[:3000]))
        return entry

    def loaded_models(self) -> list[dict]:
        return self.get_json("/dv/models")["loaded"]


def _write_extra_model_paths(path: Path, models: Path, custom_nodes: Path) -> None:
    # Keys as utils/extra_config.py reads them: every key but base_path/is_default is a folder name
    # (custom_nodes included), each value a path (relative ones are joined to base_path).
    path.write_text(
        "diffusers_video_live_test:\n"
        f"  base_path: {json.dumps(str(models))}\n"
        "  diffusers: diffusers/\n"
        "  animatediff_models: animatediff_models/\n"
        "  controlnet: controlnet/\n"
        "  loras: loras/\n"
        "  diffusion_models: diffusion_models/\n"
        "  text_encoders: text_encoders/\n"
        "  vae: vae/\n"
        "  latent_upscale_models: latent_upscale_models/\n"
        f"  custom_nodes: {json.dumps(str(custom_nodes))}\n",
        encoding="utf-8",
    )


@pytest.fixture(scope="session")
def comfy(tmp_path_factory) -> LiveComfy:
    comfyui = os.environ.get("COMFYUI_PATH")
    if not comfyui:
        pytest.skip("live-host tests need COMFYUI_PATH (a ComfyUI checkout)")
    if not os.path.isfile(os.path.join(comfyui, "main.py")):
        pytest.skip(f"COMFYUI_PATH={comfyui} is not a ComfyUI checkout (no main.py)")
    python = os.environ.get("COMFYUI_PYTHON") or sys.executable
    if not os.path.isfile(python):
        pytest.skip(f"COMFYUI_PYTHON={python} does not exist")

    from diffusers_video.runner import comfy_client
    from diffusers_video.tiny_models.cache import install_into_models_dir

    base = tmp_path_factory.mktemp("comfy")
    custom_nodes = base / "custom_nodes"
    custom_nodes.mkdir()
    (custom_nodes / PACK_FOLDER).symlink_to(REPO, target_is_directory=True)
    models = base / "models"
    install_into_models_dir(str(models), family_id="cogvideox", name="tiny-cogvideox")
    for name in ("output", "input", "temp", "user"):
        (base / name).mkdir()
    yaml_path = base / "extra_model_paths.yaml"
    _write_extra_model_paths(yaml_path, models, custom_nodes)
    log_path = base / "comfyui.log"

    extra_args = [
        "--extra-model-paths-config", str(yaml_path),
        "--output-directory", str(base / "output"),
        "--input-directory", str(base / "input"),
        "--temp-directory", str(base / "temp"),
        "--user-directory", str(base / "user"),
        # Previews on, as ComfyUI Desktop and Manager installs commonly run: a preview must never cost a render.
        "--preview-method", os.environ.get("DV_LIVE_PREVIEW", "latent2rgb"),
    ]
    if os.environ.get("DV_LIVE_FRONT_END_ROOT"):  # another frontend than the host's pinned one
        extra_args += ["--front-end-root", os.environ["DV_LIVE_FRONT_END_ROOT"]]
    def launch():
        unbuffered = os.environ.get("PYTHONUNBUFFERED")
        os.environ["PYTHONUNBUFFERED"] = "1"  # the server inherits it: its log is complete when it answers
        try:
            return comfy_client.start_server(comfyui, extra_args=extra_args, python=python,
                                             log_path=str(log_path), timeout=START_TIMEOUT)
        except comfy_client.ComfyError as error:
            pytest.fail(f"ComfyUI did not start: {error}")
        finally:
            if unbuffered is None:
                os.environ.pop("PYTHONUNBUFFERED", None)
            else:
                os.environ["PYTHONUNBUFFERED"] = unbuffered

    process, url = launch()
    live = LiveComfy(url, base, log_path, log_path.read_text(errors="replace"), process, launch)
    try:
        yield live
    finally:
        comfy_client.stop_server(live.process)  # terminate, then kill after a grace period


BROWSER_DIR = REPO / "tests" / "browser"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
# A bug of the bundled frontend release, on every page load (see shared/NOTES.md).
KNOWN_PAGE_ERRORS = ("Cannot read properties of undefined (reading 'id')",)


@pytest.fixture(scope="session")
def browser_scripts() -> Path:
    """tests/browser, where the Node scripts that drive headless Chromium live; skips when node, Chromium or
    playwright-core (`npm install --prefix tests/browser`) is missing."""
    import shutil

    if not shutil.which("node"):
        pytest.skip("node is not installed")
    if not os.path.isfile(CHROMIUM):
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    if not (BROWSER_DIR / "node_modules" / "playwright-core").is_dir():
        pytest.skip("playwright-core is not installed (npm install --prefix tests/browser)")
    return BROWSER_DIR


def run_browser_script(scripts: Path, name: str, *args: str) -> dict:
    """Run one of the Node scripts and return the JSON it prints last."""
    import subprocess

    done = subprocess.run(["node", str(scripts / name), *args], capture_output=True, text=True, timeout=300,
                          cwd=scripts)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])
