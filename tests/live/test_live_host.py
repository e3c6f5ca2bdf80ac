"""The pack inside a real ComfyUI server: registration, an API prompt end to end, caching, errors, /free.

The tests share one server (tests/live/conftest.py) and run in file order: the first run loads the tiny
CogVideoX, the re-queue finds it cached, /free unloads it.
"""

from __future__ import annotations

import copy
import json
import os
import re
import time
import urllib.parse
from pathlib import Path

import pytest
from diffusers_video import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS

pytestmark = pytest.mark.live

REPO = Path(__file__).resolve().parents[2]
PACK_FOLDER = "ComfyUI-DiffusersVideo"  # the folder name conftest.py links the repository under
EXAMPLES = REPO / "example_workflows"
IMPORT_TIME_LINE = re.compile(r"^\s*[\d.]+ seconds( \(IMPORT FAILED\))?: (?P<path>.+?)\s*$", re.MULTILINE)
TRACEBACK_FILE = re.compile(r'File "(?P<path>[^"]+)", line \d+')


def example() -> tuple[dict, dict]:
    """The shipped CogVideoX example (API prompt and UI workflow), made tiny and quick."""
    prompt = json.loads((EXAMPLES / "api" / "cogvideox_text_to_video.json").read_text(encoding="utf-8"))
    workflow = json.loads((EXAMPLES / "cogvideox_text_to_video.json").read_text(encoding="utf-8"))
    assert prompt["1"]["class_type"] == "DVPipelineLoader" and prompt["3"]["class_type"] == "DVSampler"
    assert prompt["5"]["class_type"] == "DVVideoCombine"
    prompt["1"]["inputs"]["model"] = "tiny-cogvideox"
    prompt["3"]["inputs"].update(num_inference_steps=2, width=64, height=48, num_frames=9)
    return prompt, workflow


def is_ours(path: str) -> bool:
    if not os.path.isabs(path):  # "<frozen importlib._bootstrap>" and the like
        return False
    real = os.path.realpath(path)
    return real.startswith(str(REPO) + os.sep) or f"{os.sep}{PACK_FOLDER}{os.sep}" in path


def videos(comfy) -> list[Path]:
    return sorted(p for p in comfy.output.rglob("*") if p.suffix in (".mp4", ".webm", ".gif", ".webp"))


def messages(entry: dict, kind: str) -> list[dict]:
    return [data for event, data in entry["status"]["messages"] if event == kind]


# ------------------------------------------------------------------------------------------ loading


def plain_log(log: str) -> str:
    """The log without ComfyUI 0.33's colour codes and "[INFO]" line prefixes (0.3.64 writes neither)."""
    log = re.sub(r"\x1b\[[0-9;]*m", "", log)
    return re.sub(r"^\[(?:DEBUG|INFO|WARNING|ERROR|CRITICAL)\] ?", "", log, flags=re.MULTILINE)


def test_pack_loads_and_registers_every_node(comfy):
    log = plain_log(comfy.startup_log)
    ours = [m for m in IMPORT_TIME_LINE.finditer(log) if m["path"].endswith(os.sep + PACK_FOLDER)]
    assert len(ours) == 1, f"the pack is not in ComfyUI's import-times list:\n{log[-4000:]}"
    assert ours[0].group(1) is None, f"ComfyUI reports IMPORT FAILED for the pack:\n{log[-4000:]}"
    for line in log.splitlines():
        if "IMPORT FAILED" in line or "Cannot import" in line:
            assert PACK_FOLDER not in line, line
    our_frames = [m["path"] for m in TRACEBACK_FILE.finditer(log) if is_ours(m["path"])]
    assert not our_frames, f"tracebacks from the pack's files at startup: {our_frames}\n{log[-4000:]}"

    info = comfy.get_json("/object_info")
    missing = sorted(set(NODE_CLASS_MAPPINGS) - set(info))
    assert not missing, f"not in /object_info: {missing}"
    for node_id, cls in NODE_CLASS_MAPPINGS.items():
        node = info[node_id]
        assert node["python_module"] == f"custom_nodes.{PACK_FOLDER}", (node_id, node["python_module"])
        assert node["category"] == cls.CATEGORY and node["category"].startswith("DiffusersVideo/"), node_id
        assert node["display_name"] == NODE_DISPLAY_NAME_MAPPINGS[node_id]
        assert node["description"] and node["description"] == cls.DESCRIPTION, node_id
        declared = cls.INPUT_TYPES()
        for section in ("required", "optional"):
            served = node["input"].get(section, {})
            assert set(served) == set(declared.get(section, {})), (node_id, section)
            for name, spec in served.items():
                options = spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}
                assert isinstance(options.get("tooltip"), str) and options["tooltip"].strip(), \
                    f"{node_id}.{name} has no tooltip in /object_info"


def test_example_lists_in_template_browser(comfy):
    templates = comfy.get_json("/api/workflow_templates")
    assert "cogvideox_text_to_video" in templates.get(PACK_FOLDER, []), templates


# ------------------------------------------------------------------------------------- a real run


def test_example_prompt_completes_and_serves_an_mp4_with_the_workflow(comfy, tmp_path):
    import av

    prompt, workflow = example()
    entry = comfy.run(prompt, workflow)
    assert messages(entry, "execution_success"), entry["status"]
    files = entry["outputs"]["5"]["images"]
    assert len(files) == 1, files
    file = files[0]
    assert file["filename"].endswith(".mp4") and file["type"] == "output", file
    assert file["subfolder"] == "CogVideoX" and file["filename"].startswith("text_to_video"), file

    query = urllib.parse.urlencode({k: file[k] for k in ("filename", "subfolder", "type")})
    status, body = comfy.request(f"/view?{query}")
    assert status == 200, (status, body[:300])
    assert body[4:8] == b"ftyp", body[:16]  # an mp4 starts with its ftyp box
    assert body == (comfy.output / file["subfolder"] / file["filename"]).read_bytes()
    path = tmp_path / file["filename"]
    path.write_bytes(body)

    with av.open(str(path)) as container:
        metadata = dict(container.metadata)
        frames = sum(1 for _ in container.decode(video=0))
    assert "prompt" in metadata and "workflow" in metadata, sorted(metadata)
    assert json.loads(metadata["prompt"]) == prompt
    assert json.loads(metadata["workflow"]) == workflow
    assert frames == 9


def test_requeue_runs_nothing_again(comfy):
    prompt, workflow = example()
    loaded_before = comfy.loaded_models()
    assert loaded_before, "the first run left nothing loaded"
    files_before = videos(comfy)
    entry = comfy.run(prompt, workflow)
    cached = messages(entry, "execution_cached")
    assert len(cached) == 1 and sorted(cached[0]["nodes"]) == sorted(prompt), cached
    assert videos(comfy) == files_before, "the cached re-run wrote another video"
    assert comfy.loaded_models() == loaded_before, "the models were reloaded"


# --------------------------------------------------------------------------------------------- errors


def test_bad_frame_count_fails_at_run_time_naming_node_input_and_valid_counts(comfy):
    prompt, workflow = example()
    prompt["3"]["inputs"]["num_frames"] = 10
    files_before = videos(comfy)
    entry = comfy.finished(comfy.queue_ok(prompt, workflow))
    assert entry["status"]["status_str"] == "error", entry["status"]
    errors = messages(entry, "execution_error")
    assert len(errors) == 1, entry["status"]
    error = errors[0]
    assert error["node_id"] == "3" and error["node_type"] == "DVSampler", error
    text = error["exception_message"]
    assert "DVSampler" in text and "num_frames" in text, text
    assert "9 or 13" in text, text
    assert "Traceback" not in text, text
    assert "5" not in entry.get("outputs", {})
    assert videos(comfy) == files_before, "a failed run left a video behind"


def test_unknown_model_is_refused_by_validation(comfy):
    prompt, workflow = example()
    bad = copy.deepcopy(prompt)
    bad["1"]["inputs"]["model"] = "CogVideoX-does-not-exist"
    status, reply = comfy.queue(bad, workflow)
    assert status == 400, (status, reply)
    assert set(reply["node_errors"]) == {"1"}, reply["node_errors"]
    node_error = reply["node_errors"]["1"]
    assert node_error["class_type"] == "DVPipelineLoader", node_error
    assert any(e["type"] == "value_not_in_list" and "model" in e["details"] for e in node_error["errors"]), node_error


# ------------------------------------------------------------------------------------------- memory


def test_free_unloads_the_packs_models(comfy):
    loaded = comfy.loaded_models()
    assert "CogVideoXTransformer3DModel" in {row["class"] for row in loaded}, loaded
    assert all(row["device"] == "cpu" for row in loaded), loaded  # started with --cpu
    status, _ = comfy.post_json("/free", {"unload_models": True, "free_memory": True})
    assert status == 200
    deadline = time.monotonic() + 30  # /free is taken up by the prompt worker between prompts
    while time.monotonic() < deadline and comfy.loaded_models():
        time.sleep(0.25)
    assert comfy.loaded_models() == []


def test_interrupt_stops_sampling_at_the_next_step(comfy):
    prompt, workflow = example()
    prompt["3"]["inputs"].update(num_inference_steps=500, width=320, height=240, num_frames=17, seed=5)
    files_before = videos(comfy)
    prompt_id = comfy.queue_ok(prompt, workflow)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not comfy.get_json("/queue")["queue_running"]:
        time.sleep(0.2)
    time.sleep(3)  # well into the 500 steps
    started = time.monotonic()
    status, _ = comfy.request("/interrupt", {})
    assert status == 200
    entry = comfy.finished(prompt_id, timeout=60)
    assert messages(entry, "execution_interrupted"), entry["status"]
    assert "5" not in entry.get("outputs", {})
    assert videos(comfy) == files_before, "an interrupted run left a video behind"
    assert time.monotonic() - started < 30  # at the next step, not after the remaining ones


# ---------------------------------------------------------------------------------------- dv-run


def test_dv_run_starts_comfyui_from_the_checkout(comfy, tmp_path):
    """`dv-run run --comfyui PATH` with the pack not installed in that checkout: it is linked in for the run."""
    from diffusers_video.runner import cli

    out = tmp_path / "out"
    api = EXAMPLES / "api" / "cogvideox_text_to_video.json"
    code = cli.main(["run", str(api), "--comfyui", os.environ["COMFYUI_PATH"], "--models-dir", str(comfy.models),
                     "--output-dir", str(out), "--set", '1.model="tiny-cogvideox"', "--set",
                     "3.num_inference_steps=1", "--set", "3.width=64", "--set", "3.height=48", "--set",
                     "3.num_frames=9"])
    assert code == 0
    assert (out / "CogVideoX" / "text_to_video_00001.mp4").is_file()


@pytest.mark.parametrize("name", sorted(__import__("example_runs").TINY_RUNS))
def test_every_example_completes_in_the_real_server(comfy, name):
    """Each shipped example's API prompt, with its tiny model substituted, runs in ComfyUI's own executor."""
    from example_runs import tiny_prompt

    prompt, workflow = tiny_prompt(name, str(comfy.models), str(comfy.base / "input"))
    entry = comfy.run(prompt, workflow)
    files = [item for ui in entry["outputs"].values() for item in ui.get("images", [])]
    assert len(files) == 1 and files[0]["type"] == "output"
