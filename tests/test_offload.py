"""DVOffload: group offloading hooks and model offload for a wire's runs only; forward chunking; and the
memory and speed options combined on CogVideoX, Wan and AnimateDiff."""

from __future__ import annotations

import pytest
import torch
from diffusers_video import host
from diffusers_video.errors import DVInputError
from diffusers_video.nodes.loaders import DVApplyMotionAdapter, DVMotionAdapterLoader, DVPipelineLoader
from diffusers_video.nodes.memory import DVOffload
from diffusers_video.nodes.sampling import DVSampler, DVTextEncode
from diffusers_video.nodes.speed import DVAttentionBackend, DVStepCache, DVTorchCompile


@pytest.fixture(scope="module")
def loaded(tiny_models_dir):
    from diffusers_video.tiny_models.cache import install_into_models_dir

    for family in ("wan", "modelscope", "sd15"):
        install_into_models_dir(tiny_models_dir, family, f"tiny-{family}")
    install_into_models_dir(tiny_models_dir, "motion_adapter", "tiny-motion-adapter", "animatediff_models")
    with torch.inference_mode():
        parts = {name: DVPipelineLoader().load(f"tiny-{name}", "fp32") for name in ("wan", "modelscope", "sd15")}
        parts["cogvideox"] = DVPipelineLoader().load("tiny-cogvideox", "fp32")
        (adapter,) = DVMotionAdapterLoader().load("tiny-motion-adapter", "fp32")
        (motion,) = DVApplyMotionAdapter().apply(parts["sd15"][0], adapter)
        parts["animatediff"] = (motion, *parts["sd15"][1:])
    return parts


SIZES = {"wan": (32, 32, 5, 512), "cogvideox": (32, 32, 9, 226), "modelscope": (32, 32, 4, 77),
         "animatediff": (32, 32, 4, 77)}


def run(parts, family, model=None, guidance=5.0):
    base, _, text_encoder, _ = parts
    width, height, frames, max_len = SIZES[family]
    with torch.inference_mode():
        (cond,) = DVTextEncode().encode(text_encoder, "a field of flowers", "grey", max_len, True)
        return DVSampler().sample(model or base, width, height, frames, 2, guidance, 4, conditioning=cond)[0][
            "samples"]


def offload(model, mode="ComfyUI decides", blocks=1, stream=False, chunk=0):
    return DVOffload().apply(model, mode, blocks, stream, chunk)[0]


def has_group_hooks(module) -> bool:
    return any(getattr(sub, "_diffusers_hook", None) is not None
               and sub._diffusers_hook.get_hook("group_offloading") is not None for sub in module.modules())


@pytest.mark.parametrize("mode", ["group offload: block_level", "group offload: leaf_level"])
def test_group_offload_hooks_during_the_run_only(loaded, mode):
    parts = loaded["wan"]
    model = parts[0]
    plain = run(parts, "wan")
    seen = []
    handle = model.module.register_forward_pre_hook(
        lambda *_: seen.append((has_group_hooks(model.module), model.managed.offloaded_to)))
    try:
        offloaded = run(parts, "wan", offload(model, mode))
    finally:
        handle.remove()
    assert seen and all(hooked and device == host.torch_device() for hooked, device in seen)
    assert torch.equal(offloaded, plain)
    assert not has_group_hooks(model.module) and model.managed.offloaded_to is None
    assert torch.equal(run(parts, "wan"), plain)


def test_model_offload_unloads_after_the_run(loaded, monkeypatch):
    parts = loaded["wan"]
    unloaded = []
    monkeypatch.setattr(host, "unload", lambda managed: unloaded.append(managed))
    plain = run(parts, "wan")
    assert unloaded == []
    assert torch.equal(run(parts, "wan", offload(parts[0], "model offload")), plain)
    assert unloaded == [parts[0].managed]


def test_forward_chunking_on_a_unet_is_exact_and_undone(loaded):
    parts = loaded["modelscope"]
    model = parts[0]
    plain = run(parts, "modelscope")
    chunked = run(parts, "modelscope", offload(model, chunk=2))
    assert (chunked - plain).abs().max().item() <= 1e-5  # the same sums, in pieces
    assert all(getattr(block, "_chunk_size", None) is None for block in model.module.modules())


def test_bad_settings_name_their_input(loaded):
    wan = loaded["wan"][0]
    with pytest.raises(DVInputError, match="no forward chunking") as info:
        offload(wan, chunk=2)
    assert "forward_chunk_size" in str(info.value)
    if not torch.cuda.is_available():
        with pytest.raises(DVInputError, match="needs a CUDA GPU") as info:
            offload(wan, "group offload: block_level", stream=True)
        assert "use_stream" in str(info.value)


def test_options_combine_on_cogvideox_wan_and_animatediff(loaded):
    """Memory and speed options stacked on one wire per family run, stay finite, and leave no trace."""
    cog = loaded["cogvideox"][0]
    (cog_wire,) = DVStepCache().apply(cog, "PyramidAttentionBroadcast", 0.05, 2, -1, 1001)
    (cog_wire,) = DVTorchCompile().apply(offload(cog_wire, "group offload: block_level"), "eager", "default",
                                         False, False)
    wan = loaded["wan"][0]
    (wan_wire,) = DVStepCache().apply(wan, "FirstBlockCache", 0.9, 2, 100, 800)
    (wan_wire,) = DVAttentionBackend().apply(offload(wan_wire, "model offload"), "_native_math")
    motion = loaded["animatediff"][0]
    (ad_wire,) = DVTorchCompile().apply(offload(motion, "group offload: leaf_level", chunk=2), "eager",
                                        "default", False, False)
    for family, wire in (("cogvideox", cog_wire), ("wan", wan_wire), ("animatediff", ad_wire)):
        parts = loaded[family]
        plain = run(parts, family)
        combined = run(parts, family, wire)
        assert combined.shape == plain.shape and torch.isfinite(combined).all(), family
        assert torch.equal(run(parts, family), plain), family  # nothing left behind on the shared model
        assert not has_group_hooks(parts[0].module) and parts[0].module._compiled_call_impl is None
