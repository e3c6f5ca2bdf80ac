"""The simulated-VRAM tier in CI: the released models (meta device) through the pack's host seam against a
stand-in of ComfyUI's memory manager (tests/sim_vram/standin.py) at 8-80 GB and under each memory flag. The
stand-in must reproduce, exactly, the decisions recorded from the real comfy.model_management
(tests/sim_vram/decisions.json, written by tests/sim_vram/record.py; the live tier records them again)."""

from __future__ import annotations

import json
import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
RECORDED = os.path.join(HERE, "sim_vram", "decisions.json")


@pytest.fixture(scope="module")
def simulated():
    from diffusers_video import host
    from sim_vram import scenario, standin

    saved = {name: sys.modules.get(name) for name in ("comfy", "comfy.model_patcher")}
    old = host.IN_COMFY, host._mm
    host.IN_COMFY, host._mm = True, standin.installed()
    try:
        yield scenario.run_all(standin)
    finally:
        host.IN_COMFY, host._mm = old
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


@pytest.fixture(scope="module")
def recorded():
    with open(RECORDED, encoding="utf-8") as f:
        return json.load(f)["decisions"]


def test_every_release_at_every_budget_and_flag_is_recorded(recorded):
    from sim_vram import scenario

    assert sorted(recorded) == sorted(f"{n} @ {b} GB {f}" for n, b, f in scenario.cases())


def test_the_stand_in_reproduces_the_real_managers_decisions_exactly(simulated, recorded):
    differ = [key for key in recorded if simulated.get(key) != recorded[key]]
    assert not differ, f"{len(differ)} scenarios differ, first: {differ[0]}:\n{simulated.get(differ[0])}\n" \
                       f"recorded: {recorded[differ[0]]}"


def _plan(recorded, name, budget, flag="normal"):
    return recorded[f"{name} @ {budget} GB {flag}"]


def test_what_the_plans_say(recorded):
    # An 80 GB card loads every released denoiser whole; Wan 14B on 24 GB streams blocks; on 8 GB it cannot run
    # at 720p (the working memory alone is ~9.7 GB) and says so before any weight moves.
    for key, record in recorded.items():
        if key.endswith("@ 80 GB normal") and "error" not in record["plan"]:
            assert record["plan"]["mode"] in ("full load", "model offload"), key
    assert _plan(recorded, "Wan2.1-T2V-14B", 24)["plan"] == {
        **_plan(recorded, "Wan2.1-T2V-14B", 24)["plan"], "mode": "group offload: block_level", "stream": True}
    small = _plan(recorded, "Wan2.1-T2V-14B", 8)
    assert "does not fit the GPU" in small["plan"]["error"]
    assert small["events"][-1] == ["encoded"]  # nothing of the denoiser moved
    for key, record in recorded.items():
        if key.endswith("novram") and "error" not in record["plan"]:
            assert record["plan"]["mode"] == "group offload: leaf_level", key
        if key.endswith("lowvram") and "error" not in record["plan"]:
            assert record["plan"]["mode"] != "full load", key


def test_the_manager_evicts_the_text_encoder_for_a_dit_that_needs_the_room(recorded):
    events = _plan(recorded, "Wan2.1-T2V-14B", 48)["events"]
    sampled = events.index(["sampled"])
    before = events[events.index(["encoded"]) + 1:sampled]
    assert before[0][:2] == ["unload", "text_encoder"] and before[1][:2] == ["load", "transformer"]
    # With 80 GB both stay: nothing is evicted.
    assert not [e for e in _plan(recorded, "Wan2.1-T2V-14B", 80)["events"] if e[0] == "unload"]


def test_a_reserve_is_kept_free(recorded):
    # --reserve-vram 4 leaves the text encoder less room beside the DiT than the default 0.4 GB reserve.
    def left(flag):
        events = _plan(recorded, "CogVideoX-5b", 24, flag)["events"]
        return [e for e in events if e[:2] == ["unload", "text_encoder"]][0][2]

    assert left("reserve-vram=4") < left("normal")


def test_a_plain_patcher_also_where_dynamic_vram_is_on(monkeypatch):
    """ComfyUI 0.33 with comfy-aimdo swaps CoreModelPatcher for ModelPatcherDynamic, which streams comfy.ops
    layers a diffusers module does not have: the pack keeps the plain ModelPatcher there (host.ManagedModule)."""
    import torch
    from diffusers_video import host
    from sim_vram import standin

    class Dynamic(standin.ModelPatcher):
        pass

    for name in ("comfy", "comfy.model_patcher"):  # restored after the test, as the fixture above does
        if name in sys.modules:
            monkeypatch.setitem(sys.modules, name, sys.modules[name])
        else:
            monkeypatch.delitem(sys.modules, name, raising=False)
            monkeypatch.setitem(sys.modules, name, None)
    sys.modules.pop("comfy"), sys.modules.pop("comfy.model_patcher")
    monkeypatch.setattr(host, "IN_COMFY", True)
    monkeypatch.setattr(host, "_mm", standin.installed())
    monkeypatch.setattr(standin, "CoreModelPatcher", Dynamic, raising=False)
    managed = host.ManagedModule(torch.nn.Linear(2, 2), "probe")
    assert type(managed.patcher) is standin.ModelPatcher
