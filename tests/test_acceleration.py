"""DVTorchCompile and DVAttentionBackend: set for the runs of their wire only; compiled once and reused."""

from __future__ import annotations

import pytest
import torch
from diffusers_video.errors import DVInputError
from diffusers_video.nodes.loaders import DVPipelineLoader
from diffusers_video.nodes.sampling import DVSampler, DVTextEncode
from diffusers_video.nodes.speed import DVAttentionBackend, DVTorchCompile

COMPILATIONS = {"n": 0}


@torch._dynamo.register_backend(name="dv_counting")
def _counting_backend(graph_module, example_inputs):
    """Counts compilations and runs the traced graph as is."""
    COMPILATIONS["n"] += 1
    return graph_module.forward


@pytest.fixture(scope="module")
def wan(tiny_models_dir):
    from diffusers_video.tiny_models.cache import install_into_models_dir

    install_into_models_dir(tiny_models_dir, "wan", "tiny-wan")
    with torch.inference_mode():
        return DVPipelineLoader().load("tiny-wan", "fp32")


def run(parts, model=None, seed=2):
    base, _, text_encoder, _ = parts
    with torch.inference_mode():
        (cond,) = DVTextEncode().encode(text_encoder, "a red car", "", 512, True)
        return DVSampler().sample(model or base, 32, 32, 5, 2, 1.0, seed, conditioning=cond)[0]["samples"]


def test_compiled_once_reused_on_requeue_and_off_for_other_wires(wan):
    model = wan[0]
    eager = run(wan)
    (compiled,) = DVTorchCompile().apply(model, "dv_counting", "default", False, False)
    torch._dynamo.reset()
    COMPILATIONS["n"] = 0
    first = run(wan, compiled)
    after_first = COMPILATIONS["n"]
    second = run(wan, compiled, seed=3)  # a re-queue with another seed: same shapes
    assert after_first >= 1
    assert COMPILATIONS["n"] == after_first  # nothing compiled again
    assert torch.allclose(first, eager, atol=1e-5)
    assert not torch.equal(first, second)
    assert model.module._compiled_call_impl is None  # eager again for the plain wire
    assert torch.equal(run(wan), eager)


def test_compile_choices_are_validated(wan):
    with pytest.raises(DVInputError, match="not a torch.compile backend"):
        DVTorchCompile().apply(wan[0], "no-such-backend", "default", False, False)
    assert DVTorchCompile.INPUT_TYPES()["required"]["backend"][0][:2] == ["inductor", "eager"]


def test_attention_backend_is_active_during_the_run_only(wan):
    from diffusers.models.attention_dispatch import _AttentionBackendRegistry

    model = wan[0]
    seen = []
    handle = model.module.register_forward_pre_hook(
        lambda *_: seen.append(str(_AttentionBackendRegistry._active_backend.value)))
    try:
        before = _AttentionBackendRegistry._active_backend
        plain = run(wan)
        (math_wire,) = DVAttentionBackend().apply(model, "_native_math")
        chosen = run(wan, math_wire)
    finally:
        handle.remove()
    assert set(seen[len(seen) // 2:]) == {"_native_math"} and "_native_math" not in seen[: len(seen) // 2]
    assert _AttentionBackendRegistry._active_backend == before
    assert (chosen - plain).abs().max().item() <= 1e-5  # the same attention, other kernels


def test_attention_backend_refused_for_models_that_bypass_the_dispatcher(tiny_cogvideox_path):
    with torch.inference_mode():
        cogvideox = DVPipelineLoader().load("tiny-cogvideox", "fp32")[0]
    with pytest.raises(DVInputError, match="does not use diffusers' attention dispatcher") as info:
        DVAttentionBackend().apply(cogvideox, "native")
    assert "DVAttentionBackend" in str(info.value)
    assert "native" in DVAttentionBackend.INPUT_TYPES()["required"]["backend"][0]
