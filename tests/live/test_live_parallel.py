"""DVParallel in the real ComfyUI server (issue 13): the server process is rank 0, a worker process rank 1
(gloo on CPU). The Wan example's latent equals the single-rank run's; a worker killed mid-run fails the prompt
with a clear error within its timeout, the server stays up, and the next prompts (plain and parallel) run."""

from __future__ import annotations

import copy
import os
import signal
import time

import pytest


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(entry))
    return found


def _workers(comfy) -> list[int]:
    pids = []
    for child in _children(comfy.process.pid):
        try:
            with open(f"/proc/{child}/cmdline", "rb") as f:
                if b".parallel.worker" in f.read():
                    pids.append(child)
        except OSError:
            pass
    return pids


def _latents(comfy, prefix: str) -> list[str]:
    folder = comfy.output / "parallel"
    return sorted(str(p) for p in folder.glob(f"{prefix}_*.safetensors")) if folder.is_dir() else []


def _prompts(comfy, steps: int = 2, timeout_s: float = 120.0) -> tuple[dict, dict]:
    from example_runs import tiny_prompt

    prompt, _ = tiny_prompt("wan_text_to_video", str(comfy.models), str(comfy.base / "input"))
    prompt["3"]["inputs"]["num_inference_steps"] = steps
    del prompt["5"]
    plain = copy.deepcopy(prompt)
    plain["6"] = {"class_type": "DVSaveLatent", "inputs": {"samples": ["3", 0], "filename_prefix": "parallel/one"}}
    parallel = copy.deepcopy(prompt)
    parallel["6"] = {"class_type": "DVSaveLatent", "inputs": {"samples": ["3", 0], "filename_prefix": "parallel/two"}}
    parallel["7"] = {"class_type": "DVParallel", "inputs": {"model": ["1", 0], "degree": 2, "mode": "ulysses",
                                                            "timeout_s": timeout_s}}
    parallel["3"]["inputs"]["model"] = ["7", 0]
    return plain, parallel


def test_two_cpu_ranks_in_the_server_equal_one(comfy):
    from safetensors.torch import load_file

    if comfy.process is None:
        pytest.skip("needs the server this session started (its worker processes are inspected)")
    plain, parallel = _prompts(comfy)
    comfy.run(plain)
    comfy.run(parallel, timeout=600)
    one = load_file(_latents(comfy, "one")[-1])["samples"]
    two = load_file(_latents(comfy, "two")[-1])["samples"]
    assert (one - two).abs().max().item() <= 1e-5
    assert len(_workers(comfy)) == 1  # the pool stays for the next prompt
    assert "parallel worker processes ready" in comfy.log()
    status, _ = comfy.post_json("/free", {"unload_models": True, "free_memory": True})
    assert status == 200
    deadline = time.time() + 60
    while time.time() < deadline and _workers(comfy):
        time.sleep(0.5)
    assert not _workers(comfy)  # /free stops the workers


def test_a_worker_killed_mid_run_fails_the_prompt_and_the_server_goes_on(comfy):
    if comfy.process is None:
        pytest.skip("needs the server this session started")
    _, parallel = _prompts(comfy, steps=40, timeout_s=20.0)
    parallel["3"]["inputs"]["seed"] = 11  # not cached
    before = _latents(comfy, "two")
    ready = comfy.log().count("parallel worker processes ready")
    prompt_id = comfy.queue_ok(parallel)
    deadline = time.time() + 300
    while time.time() < deadline and comfy.log().count("parallel worker processes ready") == ready:
        time.sleep(0.2)
    workers = _workers(comfy)
    assert workers, comfy.log()[-2000:]
    time.sleep(2.0)  # the pool is up and the 40 steps are under way
    os.kill(workers[0], signal.SIGKILL)
    started = time.time()
    entry = comfy.finished(prompt_id, timeout=120)
    assert time.time() - started < 60  # within the 20 s timeout, plus the rest of the prompt's bookkeeping
    assert entry["status"]["status_str"] == "error"
    message = " ".join(str(d.get("exception_message", "")) for kind, d in entry["status"]["messages"]
                       if kind == "execution_error")
    assert "DVParallel:" in message and "next prompt starts a new one" in message, message
    assert _latents(comfy, "two") == before  # nothing written by the failed run
    plain, parallel = _prompts(comfy)
    plain["3"]["inputs"]["seed"] = parallel["3"]["inputs"]["seed"] = 12
    comfy.run(plain)
    comfy.run(parallel, timeout=600)
    assert len(_latents(comfy, "two")) == len(before) + 1
