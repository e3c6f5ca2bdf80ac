"""The pack inside a real ComfyUI server: registration, an API prompt end to end, caching, errors, /free."""

from __future__ import annotations

import copy
import json
import os
import time
import urllib.request

import pytest
from diffusers_video import NODE_CLASS_MAPPINGS
from diffusers_video.runner import comfy_client as client
from diffusers_video.video_io.metadata import read_metadata

pytestmark = pytest.mark.live
EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                        "example_workflows")


def example() -> tuple[dict, dict]:
    with open(os.path.join(EXAMPLES, "api", "cogvideox_text_to_video.json"), encoding="utf-8") as f:
        prompt = json.load(f)
    with open(os.path.join(EXAMPLES, "cogvideox_text_to_video.json"), encoding="utf-8") as f:
        workflow = json.load(f)
    prompt["1"]["inputs"]["model"] = "tiny-cogvideox"
    prompt["3"]["inputs"].update(num_inference_steps=2, width=64, height=48, num_frames=9)
    return prompt, workflow


def get_json(url: str):
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.loads(response.read())


def test_pack_registers_every_node_without_import_errors(comfy):
    info = client.object_info(comfy["url"])
    for node_id, cls in NODE_CLASS_MAPPINGS.items():
        assert node_id in info, node_id
        assert info[node_id]["category"] == cls.CATEGORY
        assert info[node_id]["description"] == cls.DESCRIPTION
        for name, spec in info[node_id]["input"].get("required", {}).items():
            assert spec[1].get("tooltip"), f"{node_id}.{name}"
    log = comfy["log"].read_text()
    assert "IMPORT FAILED" not in log or "DiffusersVideo" not in log.split("IMPORT FAILED")[1][:300]
    assert "ComfyUI-DiffusersVideo" in log  # listed among the loaded custom nodes


def test_example_lists_in_template_browser(comfy):
    templates = get_json(comfy["url"] + "/api/workflow_templates")
    assert "cogvideox_text_to_video" in templates.get("ComfyUI-DiffusersVideo", [])


def test_example_prompt_completes_and_serves_an_mp4_with_the_workflow(comfy, tmp_path):
    prompt, workflow = example()
    entry = client.wait(comfy["url"], client.post_prompt(comfy["url"], prompt, workflow), timeout=300)
    files = entry["outputs"]["5"]["images"]
    assert files[0]["filename"].endswith(".mp4") and files[0]["type"] == "output"
    path = client.download(comfy["url"], files[0], str(tmp_path))
    with open(path, "rb") as f:
        assert f.read(12)[4:8] == b"ftyp"
    metadata = read_metadata(path)
    assert metadata["prompt"] == prompt
    assert metadata["workflow"] == workflow


def test_requeue_runs_nothing_again(comfy):
    prompt, workflow = example()
    loaded_before = get_json(comfy["url"] + "/dv/models")["loaded"]
    entry = client.wait(comfy["url"], client.post_prompt(comfy["url"], prompt, workflow), timeout=300)
    cached = [data["nodes"] for kind, data in entry["status"]["messages"] if kind == "execution_cached"]
    assert cached and sorted(cached[0]) == sorted(prompt)
    assert get_json(comfy["url"] + "/dv/models")["loaded"] == loaded_before


def test_bad_frame_count_fails_with_our_message(comfy):
    prompt, workflow = example()
    prompt["3"]["inputs"]["num_frames"] = 10
    with pytest.raises(client.ComfyError) as info:
        client.wait(comfy["url"], client.post_prompt(comfy["url"], prompt, workflow), timeout=300)
    message = str(info.value)
    assert "DVSampler: input 'num_frames'" in message and "9 or 13" in message


def test_unknown_model_is_refused_by_validation(comfy):
    prompt, workflow = example()
    bad = copy.deepcopy(prompt)
    bad["1"]["inputs"]["model"] = "CogVideoX-does-not-exist"
    with pytest.raises(client.ComfyError) as info:
        client.post_prompt(comfy["url"], bad, workflow)
    assert "node 1 (DVPipelineLoader)" in str(info.value)


def test_free_unloads_the_packs_models(comfy):
    loaded = get_json(comfy["url"] + "/dv/models")["loaded"]
    assert "CogVideoXTransformer3DModel" in {row["class"] for row in loaded}
    client.free(comfy["url"])
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and get_json(comfy["url"] + "/dv/models")["loaded"]:
        time.sleep(0.5)
    assert get_json(comfy["url"] + "/dv/models")["loaded"] == []


def test_interrupt_stops_sampling_at_the_next_step(comfy):
    prompt, workflow = example()
    prompt["3"]["inputs"].update(num_inference_steps=500, width=320, height=240, num_frames=17, seed=5)
    prompt_id = client.post_prompt(comfy["url"], prompt, workflow)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # wait until the sampler is running
        queue = get_json(comfy["url"] + "/queue")
        if queue["queue_running"]:
            break
        time.sleep(0.2)
    time.sleep(3)
    started = time.monotonic()
    urllib.request.urlopen(urllib.request.Request(comfy["url"] + "/interrupt", data=b"{}", method="POST"), timeout=10)
    entry = None
    while time.monotonic() - started < 60:
        entry = get_json(comfy["url"] + f"/history/{prompt_id}").get(prompt_id)
        if entry:
            break
        time.sleep(0.2)
    assert entry is not None, "the interrupted prompt never finished"
    kinds = [kind for kind, _ in entry["status"]["messages"]]
    assert "execution_interrupted" in kinds
    assert "5" not in entry.get("outputs", {})  # no video was written
    assert time.monotonic() - started < 30  # at the next step, not after 500 of them


def test_dv_run_starts_comfyui_from_the_checkout(comfy, tmp_path):
    """`dv-run run --comfyui PATH` with the pack not installed in that checkout: it is linked in for the run."""
    from diffusers_video.runner import cli

    out = tmp_path / "out"
    api = os.path.join(EXAMPLES, "api", "cogvideox_text_to_video.json")
    code = cli.main(["run", api, "--comfyui", os.environ["COMFYUI_PATH"], "--models-dir", str(comfy["models"]),
                     "--output-dir", str(out), "--set", "1.model=\"tiny-cogvideox\"", "--set",
                     "3.num_inference_steps=1", "--set", "3.width=64", "--set", "3.height=48", "--set",
                     "3.num_frames=9"])
    assert code == 0
    assert (out / "CogVideoX" / "text_to_video_00001.mp4").is_file()
