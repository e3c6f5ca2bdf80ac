"""DVStepCache: diffusers' cache hooks skip transformer work while DVSampler runs the cached wire, stay close
to the uncached frames, and are gone afterwards."""

from __future__ import annotations

import os

import pytest
import torch
from diffusers_video.errors import DVInputError
from diffusers_video.nodes.loaders import DVPipelineLoader
from diffusers_video.nodes.sampling import DVSampler, DVTextEncode
from diffusers_video.nodes.speed import DVStepCache

STEPS = 8
# family -> (tiny model, sampler size/frames, max_sequence_length)
FAMILIES = {"wan": ("tiny-wan", (32, 32, 5), 512), "cogvideox": ("tiny-cogvideox", (32, 32, 9), 226)}
SIZES = {**FAMILIES, "cogvideox-3": ("cogvideox-3-blocks", (32, 32, 9), 226)}
# Settings that make each cache act within 8 steps of a tiny random model.
SETTINGS = {
    "FirstBlockCache": {"threshold": 0.9},
    "PyramidAttentionBroadcast": {"skip_range": 2, "timestep_start": -1, "timestep_end": 1001},
    "FasterCache": {"skip_range": 2, "timestep_start": -1, "timestep_end": 1001},
}
DEFAULTS = {"threshold": 0.05, "skip_range": 2, "timestep_start": 100, "timestep_end": 800}


@pytest.fixture(scope="module")
def loaded(tiny_models_dir):
    from diffusers_video.tiny_models.cache import install_into_models_dir

    install_into_models_dir(tiny_models_dir, "wan", "tiny-wan")
    with torch.inference_mode():
        return {family: DVPipelineLoader().load(name, "fp32") for family, (name, _, _) in FAMILIES.items()}


def run(parts, family, model=None, guidance=5.0):
    base, _, text_encoder, _ = parts
    (width, height, frames), max_len = SIZES[family][1], SIZES[family][2]
    with torch.inference_mode():
        (cond,) = DVTextEncode().encode(text_encoder, "waves on a beach", "dark", max_len, True)
        return DVSampler().sample(model or base, width, height, frames, STEPS, guidance, 3, conditioning=cond)[0][
            "samples"]


def count_block_calls(module):
    """Query projections computed in the DiT's attention layers: a skipped block or a reused attention
    output computes none (the attention modules themselves are still called when a hook answers for them)."""
    calls = {"n": 0}

    def hook(*_):
        calls["n"] += 1

    handles = [m.register_forward_hook(hook) for name, m in module.named_modules() if name.endswith(".to_q")]
    return calls, handles


# The tiny CogVideoX has one block, and Wan does not batch guidance: both refusals are tested below.
CASES = [(family, cache) for family in FAMILIES for cache in SETTINGS
         if (family, cache) not in (("cogvideox", "FirstBlockCache"), ("wan", "FasterCache"))]


@pytest.mark.parametrize(("family", "cache"), CASES)
def test_cache_skips_work_stays_close_and_is_removed(loaded, family, cache):
    parts = loaded[family]
    model = parts[0]
    calls, handles = count_block_calls(model.module)
    try:
        plain = run(parts, family)
        plain_calls = calls["n"]
        calls["n"] = 0
        (cached_model,) = DVStepCache().apply(model, cache, **{**DEFAULTS, **SETTINGS[cache]})
        cached = run(parts, family, cached_model)
        cached_calls = calls["n"]
        calls["n"] = 0
        again = run(parts, family)
    finally:
        for handle in handles:
            handle.remove()
    assert cached_calls < plain_calls, f"{cache} skipped nothing ({cached_calls} of {plain_calls} calls)"
    # Approximate by design; on tiny random weights the error is what the cache costs, bounded loosely.
    assert (cached - plain).abs().mean().item() < 0.5 * plain.abs().mean().item()
    assert torch.equal(again, plain)  # the hooks are gone
    assert not model.module.is_cache_enabled


def test_first_block_cache_needs_two_blocks(loaded):
    with pytest.raises(DVInputError, match="2 or more blocks; this one has 1"):
        DVStepCache().apply(loaded["cogvideox"][0], "FirstBlockCache", **DEFAULTS)


def test_faster_cache_needs_batched_guidance(loaded):
    with pytest.raises(DVInputError, match="runs the two passes apart"):
        DVStepCache().apply(loaded["wan"][0], "FasterCache", **DEFAULTS)
    (cached,) = DVStepCache().apply(loaded["cogvideox"][0], "FasterCache", **DEFAULTS)
    with pytest.raises(DVInputError, match="guidance is off") as info:
        run(loaded["cogvideox"], "cogvideox", cached, guidance=1.0)
    assert "guidance_scale" in str(info.value)


def test_unet_families_are_refused(tiny_models_dir):
    from diffusers_video.tiny_models.cache import install_into_models_dir

    install_into_models_dir(tiny_models_dir, "modelscope", "tiny-modelscope")
    with torch.inference_mode():
        model = DVPipelineLoader().load("tiny-modelscope", "fp32")[0]
    with pytest.raises(DVInputError, match="no cache support") as info:
        DVStepCache().apply(model, "FirstBlockCache", **DEFAULTS)
    assert "DVStepCache" in str(info.value)


# ------------------------------------------------------------------- MagCache and TaylorSeer (per-call steps)


@pytest.fixture(scope="module")
def medium_cogvideox(tiny_models_dir):
    """CogVideoX with 3 blocks (the tiny one has 1; MagCache needs a head and a tail block)."""
    from diffusers import CogVideoXPipeline, CogVideoXTransformer3DModel
    from diffusers_video.tiny_models.cache import tiny_model_path

    path = os.path.join(tiny_models_dir, "diffusers", "cogvideox-3-blocks")
    if not os.path.isdir(path):
        pipe = CogVideoXPipeline.from_pretrained(tiny_model_path("cogvideox"))
        config = dict(pipe.transformer.config)
        config["num_layers"] = 3
        torch.manual_seed(0)
        pipe.transformer = CogVideoXTransformer3DModel.from_config(config).eval()
        pipe.save_pretrained(path)
    with torch.inference_mode():
        return DVPipelineLoader().load("cogvideox-3-blocks", "fp32")


def test_magcache_calibrates_then_skips_with_the_ratios(medium_cogvideox, capsys):
    import re

    model = medium_cogvideox[0]
    (calibrating,) = DVStepCache().apply(model, "MagCache (calibrate)", **DEFAULTS)
    plain = run(medium_cogvideox, "cogvideox-3")
    calibrated = run(medium_cogvideox, "cogvideox-3", calibrating)
    assert torch.equal(calibrated, plain)  # calibration only measures
    printed = capsys.readouterr().out
    ratios = re.search(r"Calibration Complete.*?\n(\[.*?\])", printed, re.S).group(1)
    calls, handles = count_block_calls(model.module)
    try:
        (cached,) = DVStepCache().apply(model, "MagCache", **{**DEFAULTS, "threshold": 0.9, "skip_range": 3},
                                        mag_ratios=ratios)
        run(medium_cogvideox, "cogvideox-3", cached)
    finally:
        for handle in handles:
            handle.remove()
    assert calls["n"] < STEPS * 3  # 3 blocks a step uncached; some steps skipped
    assert not model.module.is_cache_enabled


def test_magcache_without_ratios_says_how_to_get_them(medium_cogvideox):
    with pytest.raises(DVInputError, match="MagCache \\(calibrate\\)") as info:
        DVStepCache().apply(medium_cogvideox[0], "MagCache", **DEFAULTS)
    assert "mag_ratios" in str(info.value)


def test_taylorseer_predicts_attention_between_full_steps(medium_cogvideox):
    model = medium_cogvideox[0]
    calls, handles = count_block_calls(model.module)
    try:
        plain = run(medium_cogvideox, "cogvideox-3")
        plain_calls, calls["n"] = calls["n"], 0
        (cached,) = DVStepCache().apply(model, "TaylorSeer", **{**DEFAULTS, "skip_range": 2}, warmup_steps=2)
        predicted = run(medium_cogvideox, "cogvideox-3", cached)
        cached_calls = calls["n"]
    finally:
        for handle in handles:
            handle.remove()
    assert cached_calls < plain_calls
    assert torch.isfinite(predicted).all()
    assert torch.equal(run(medium_cogvideox, "cogvideox-3"), plain)


def test_per_call_caches_refuse_separate_guidance_passes(loaded):
    (cached,) = DVStepCache().apply(loaded["wan"][0], "TaylorSeer", **DEFAULTS)
    with pytest.raises(DVInputError, match="two calls a step") as info:
        run(loaded["wan"], "wan", cached, guidance=5.0)
    assert "guidance_scale" in str(info.value)
    assert run(loaded["wan"], "wan", cached, guidance=1.0).isfinite().all()
