"""DVParallel inside one server process (issue 13): this process is rank 0, a worker process is rank 1 (gloo
on CPU), the tiny Wan example's frames equal a single-process run; a worker killed mid-run fails the prompt
with a clear error, and the next prompt (parallel or not) succeeds."""

from __future__ import annotations

import copy
import json
import os

import pytest
import torch
from diffusers_video import NODE_CLASS_MAPPINGS
from diffusers_video.errors import DVInputError
from diffusers_video.runner.core_nodes import CORE_NODES
from diffusers_video.runner.executor import Executor, NodeExecutionError

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "example_workflows", "api")
NODES = {**CORE_NODES, **NODE_CLASS_MAPPINGS}


@pytest.fixture(scope="module")
def base_prompt(tiny_models_dir):
    from diffusers_video.tiny_models.cache import install_into_models_dir

    install_into_models_dir(tiny_models_dir, "wan", "tiny-wan")
    with open(os.path.join(EXAMPLES, "wan_text_to_video.json"), encoding="utf-8") as f:
        prompt = json.load(f)
    prompt["1"]["inputs"]["model"] = "tiny-wan"
    prompt["3"]["inputs"].update(width=64, height=48, num_frames=9, num_inference_steps=2)
    del prompt["5"]  # no video file: the latent is what is compared
    prompt["6"] = {"class_type": "DVSaveLatent", "inputs": {"samples": ["3", 0], "filename_prefix": "pool/latent"}}
    return prompt


def _parallel(prompt: dict, degree: int = 2, timeout_s: float = 60.0) -> dict:
    prompt = copy.deepcopy(prompt)
    prompt["7"] = {"class_type": "DVParallel", "inputs": {"model": ["1", 0], "degree": degree, "mode": "ulysses",
                                                          "timeout_s": timeout_s}}
    prompt["3"]["inputs"]["model"] = ["7", 0]
    return prompt


def _latest_latent(out_dir: str) -> torch.Tensor:
    from safetensors.torch import load_file

    folder = os.path.join(out_dir, "pool")
    newest = sorted(f for f in os.listdir(folder) if f.endswith(".safetensors"))[-1]
    return load_file(os.path.join(folder, newest))["samples"]


@pytest.fixture
def output_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("DV_OUTPUT_DIR", str(tmp_path))
    yield str(tmp_path)
    from diffusers_video.parallel import pool

    pool.stop_all()


def test_two_ranks_in_one_server_equal_one_rank(base_prompt, output_dir):
    from diffusers_video.parallel import pool

    Executor(NODES).run(base_prompt)
    single = _latest_latent(output_dir)
    Executor(NODES).run(_parallel(base_prompt))
    diff = (_latest_latent(output_dir) - single).abs().max().item()
    assert diff <= 1e-5, diff
    (running,) = pool._pools.values()
    first_pid = running.processes[0].pid
    Executor(NODES).run(_parallel(base_prompt | {"3": {**base_prompt["3"], "inputs": {
        **base_prompt["3"]["inputs"], "seed": 7}}}))  # the next prompt reuses the same worker
    assert running.alive() and running.processes[0].pid == first_pid


def test_a_worker_killed_mid_run_fails_the_prompt_and_the_next_runs(base_prompt, output_dir, monkeypatch):
    from diffusers_video.parallel import group, pool

    plain_stop_check = group.stop_if_any_rank_stops
    killed = []

    def kill_the_worker_at_the_first_step():
        if not killed:
            (running,) = pool._pools.values()
            running.processes[0].kill()
            running.processes[0].wait()
            killed.append(True)
        plain_stop_check()

    monkeypatch.setattr(group, "stop_if_any_rank_stops", kill_the_worker_at_the_first_step)
    executor = Executor(NODES)  # one executor throughout, as a server keeps its loaded model
    with pytest.raises(NodeExecutionError) as info:
        executor.run(_parallel(base_prompt, timeout_s=20.0))
    message = str(info.value)
    assert "DVParallel:" in message and "exited with code" in message and "next prompt starts a new one" in message
    assert not pool._pools  # the broken pool is gone
    files = os.listdir(os.path.join(output_dir, "pool")) if os.path.isdir(os.path.join(output_dir, "pool")) else []
    assert not files  # nothing half-written: the run never reached the save
    monkeypatch.setattr(group, "stop_if_any_rank_stops", plain_stop_check)
    executor.run(base_prompt)  # the next prompt, not parallel
    executor.run(_parallel(base_prompt))  # and a parallel one: a new pool, the loaded model re-pointed at it
    assert len(os.listdir(os.path.join(output_dir, "pool"))) == 2


def test_refusals_before_any_worker_starts(tiny_models_dir):
    from diffusers_video.nodes.parallel import DVParallel
    from diffusers_video.parallel import pool
    from parity import load_parts

    model = load_parts("tiny-cogvideox")[0]
    with pytest.raises(DVInputError) as info:
        DVParallel().apply(model, 2, "ulysses", 60.0)
    assert str(info.value).startswith("DVParallel: input 'model'") and "no context-parallel plan" in str(info.value)
    with pytest.raises(DVInputError) as info:
        DVParallel().apply(model, 1000, "ulysses", 60.0)
    assert "input 'degree'" in str(info.value)
    assert not pool._pools


def test_an_interrupt_on_rank_0_stops_every_rank_and_keeps_the_pool(base_prompt, output_dir, monkeypatch):
    """Cancel in the server: the ranks agree at the step's end, all stop, the worker reports it and stays for
    the next prompt."""
    from diffusers_video import host
    from diffusers_video.parallel import group, pool

    plain_stop_check = group.stop_if_any_rank_stops
    calls = []

    def interrupt_at_the_first_step():
        if not calls:
            host.request_interrupt()
        calls.append(1)
        plain_stop_check()

    executor = Executor(NODES)
    monkeypatch.setattr(group, "stop_if_any_rank_stops", interrupt_at_the_first_step)
    with pytest.raises(NodeExecutionError) as info:
        executor.run(_parallel(base_prompt))
    assert isinstance(info.value.original, host.Interrupted) and len(calls) == 1
    (running,) = pool._pools.values()
    assert running.alive()
    monkeypatch.setattr(group, "stop_if_any_rank_stops", plain_stop_check)
    executor.run(_parallel(base_prompt))
    assert len(os.listdir(os.path.join(output_dir, "pool"))) == 1


def test_a_worker_killed_while_loading_fails_at_once_not_after_the_timeout(base_prompt, output_dir, monkeypatch):
    """The server enters no collective before every worker has built its inputs: a worker that dies while it
    loads is seen on its process at once, even with a timeout of ten minutes."""
    import time

    from diffusers_video.parallel import pool

    plain_await = pool.WorkerPool._await_built

    def kill_then_wait(self):
        self.processes[0].kill()
        self.processes[0].wait()
        return plain_await(self)

    monkeypatch.setattr(pool.WorkerPool, "_await_built", kill_then_wait)
    executor = Executor(NODES)
    started = time.monotonic()
    with pytest.raises(NodeExecutionError) as info:
        executor.run(_parallel(base_prompt, timeout_s=600.0))
    assert time.monotonic() - started < 120  # the pool's start included; the 600 s timeout is never waited
    message = str(info.value)
    assert "exited while building its inputs" in message and "exited with code -9" in message, message
    assert not pool._pools
    monkeypatch.setattr(pool.WorkerPool, "_await_built", plain_await)
    executor.run(_parallel(base_prompt))  # a new pool serves the next prompt
    assert len(os.listdir(os.path.join(output_dir, "pool"))) == 1

