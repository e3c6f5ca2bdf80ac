"""Validation before any work (issue 12): NaN/inf floats refused by name on every node that takes floats,
empty or reversed ranges, set options whose wire is missing, and what the diffusers pipelines' check_inputs
would refuse, each answered with the node, the input and what is valid. Also the processor restore of
Text2Video-Zero mode and the freeing order of the decode OOM retry."""

from __future__ import annotations

import logging
import math
import weakref
from types import SimpleNamespace

import pytest
import torch
from diffusers_video import host
from diffusers_video.errors import DVInputError, finite_number
from diffusers_video.model_loaders.components import DVControlNet
from diffusers_video.nodes import NODE_CLASS_MAPPINGS
from diffusers_video.samplers import decode_auto
from diffusers_video.samplers.decode import DecodeSettings
from parity import load_parts, tiny_model_fixtures

PROMPT = "a red panda waves at the camera"
BAD_FLOATS = [math.nan, "nan", math.inf, -math.inf]
IDS = ["nan", "nan-string", "inf", "-inf"]

path, parts = tiny_model_fixtures("cogvideox")  # tiny-cogvideox: the model most node checks need


def node(node_id: str):
    """The registered class: its FUNCTION stamps the node id on DVInputErrors, as in ComfyUI."""
    return NODE_CLASS_MAPPINGS[node_id]()


def refused(call, node_id: str, input_name: str, *valid_words: str) -> str:
    with pytest.raises(DVInputError) as info, torch.inference_mode():
        call()
    message = str(info.value)
    assert message.startswith(f"{node_id}: input '{input_name}':"), message
    assert info.value.input_name == input_name and info.value.valid, message
    for word in valid_words:
        assert word in info.value.valid, message
    return message


@pytest.fixture(scope="module")
def cond(parts):
    with torch.inference_mode():
        return node("DVTextEncode").encode(parts[2], PROMPT, "", 226, True)[0]


# ------------------------------------------------------------------------------- the shared helper


def test_finite_number_refuses_nan_inf_and_non_numbers():
    assert finite_number("x", "1.5") == 1.5 and finite_number("x", 3, 0, 10) == 3.0
    for value in (*BAD_FLOATS, "abc", None):
        with pytest.raises(DVInputError) as info:
            finite_number("guidance_scale", value, 0.0, 30.0)
        assert "input 'guidance_scale'" in str(info.value) and "from 0 to 30" in str(info.value)
    with pytest.raises(DVInputError, match="out of range. Valid: a number from 0 to 1"):
        finite_number("threshold", 1.5, 0.0, 1.0)


# ------------------------------------------------------------------------------- NaN/inf by name


@pytest.mark.parametrize("value", BAD_FLOATS, ids=IDS)
def test_guidance_scale(parts, cond, value):
    refused(lambda: node("DVSampler").sample(parts[0], 32, 32, 9, 2, value, 0, conditioning=cond),
            "DVSampler", "guidance_scale", "0 to 30")


@pytest.mark.parametrize("value", BAD_FLOATS, ids=IDS)
def test_flow_shift(value):
    refused(lambda: node("DVScheduler").build("UniPC", "from model", flow_shift=value),
            "DVScheduler", "flow_shift", "0 to 100")


@pytest.mark.parametrize("value", BAD_FLOATS, ids=IDS)
def test_tile_overlap(parts, value):
    latent = {"samples": torch.zeros(1, 16, 3, 4, 4), "dv_family": "cogvideox"}
    refused(lambda: node("DVVAEDecode").decode(parts[1], latent, 0, "off", 0, value),
            "DVVAEDecode", "tile_overlap", "0 to 0.75")


@pytest.mark.parametrize("value", BAD_FLOATS, ids=IDS)
def test_step_cache_threshold(parts, value):
    refused(lambda: node("DVStepCache").apply(parts[0], "FirstBlockCache", value, 2, 100, 800),
            "DVStepCache", "threshold", "0 to 1")


@pytest.mark.parametrize("value", BAD_FLOATS, ids=IDS)
def test_lora_strength(parts, value):
    refused(lambda: node("DVLoraLoader").load(parts[0], "any.safetensors", value),
            "DVLoraLoader", "strength", "-10 to 10")


@pytest.mark.parametrize("value", BAD_FLOATS, ids=IDS)
def test_boundary_ratio(value):
    refused(lambda: node("DVModelLoader").load("tiny-cogvideox/transformer", "fp32", boundary_ratio=value),
            "DVModelLoader", "boundary_ratio", "0 to 1")


@pytest.mark.parametrize("value", BAD_FLOATS, ids=IDS)
def test_controlnet_strength(value):
    controlnet = DVControlNet(host.ManagedModule(torch.nn.Linear(1, 1), "fake"), "fake")
    refused(lambda: node("DVApplyControlNet").apply(controlnet, torch.zeros(2, 8, 8, 3), value),
            "DVApplyControlNet", "strength", "0 to 10")


@pytest.mark.parametrize("value", BAD_FLOATS, ids=IDS)
def test_text2video_zero_and_pix2pix_options(value):
    refused(lambda: node("DVText2VideoZeroOptions").build(value, 12.0, 44, 47),
            "DVText2VideoZeroOptions", "motion_field_strength_x", "-100 to 100")
    refused(lambda: node("DVText2VideoZeroOptions").build(12.0, value, 44, 47),
            "DVText2VideoZeroOptions", "motion_field_strength_y", "-100 to 100")
    refused(lambda: node("DVInstructPix2PixOptions").build(value),
            "DVInstructPix2PixOptions", "image_guidance_scale", "0 to 30")


@pytest.mark.parametrize("value", BAD_FLOATS, ids=IDS)
def test_family_options(value):
    refused(lambda: node("DVCogVideoXOptions").build(use_dynamic_cfg=False, strength=value),
            "DVCogVideoXOptions", "strength", "0 to 1")
    refused(lambda: node("DVSVDOptions").build(fps=7, motion_bucket_id=127, noise_aug_strength=value,
                                               min_guidance_scale=1.0),
            "DVSVDOptions", "noise_aug_strength", "0 to 1")


def test_family_options_out_of_their_declared_range():
    refused(lambda: node("DVCogVideoXOptions").build(use_dynamic_cfg=False, strength=1.5),
            "DVCogVideoXOptions", "strength", "0 to 1")
    refused(lambda: node("DVSVDOptions").build(fps=0, motion_bucket_id=127, noise_aug_strength=0.02,
                                               min_guidance_scale=1.0),
            "DVSVDOptions", "fps", "1 to 60")


@pytest.mark.parametrize("width,height,name", [(-64, 32, "width"), (32, 0, "height")])
def test_zero_and_negative_sizes(parts, cond, width, height, name):
    refused(lambda: node("DVSampler").sample(parts[0], width, height, 9, 2, 6.0, 0, conditioning=cond),
            "DVSampler", name, "16")


@pytest.mark.parametrize("seed", [2**70, -2**64, 1.5])
def test_seed_torch_cannot_take(parts, cond, seed):
    refused(lambda: node("DVSampler").sample(parts[0], 32, 32, 9, 2, 6.0, seed, conditioning=cond),
            "DVSampler", "seed", "18446744073709551615")


@pytest.mark.parametrize("value", BAD_FLOATS, ids=IDS)
def test_every_declared_float_is_checked_at_the_node_boundary(value):
    # DVVideoCombine's fps: no check of its own, the registered node refuses it from its INPUT_TYPES
    refused(lambda: node("DVVideoCombine").combine(torch.zeros(2, 8, 8, 3), value),
            "DVVideoCombine", "fps", "0.01 to 240")


@pytest.mark.parametrize("node_id,call,input_name,valid", [
    ("DVTextEncode", lambda n, parts: n.encode(parts[2], PROMPT, "", 0, True), "max_sequence_length", "1 to 4096"),
    ("DVVAEDecode", lambda n, parts: n.decode(parts[1], {"samples": torch.zeros(1, 16, 3, 4, 4)}, -1, "off", 0, 0.0),
     "decode_chunk_size", "0 to 1024"),
    ("DVStepCache", lambda n, parts: n.apply(parts[0], "TaylorSeer", 0.05, 0, 100, 800), "skip_range", "1 to 50"),
    ("DVSampler", lambda n, parts: n.sample(parts[0], 32, 32, 9, 2.5, 6.0, 0), "num_inference_steps",
     "whole number"),
])
def test_every_declared_int_is_checked_at_the_node_boundary(parts, node_id, call, input_name, valid):
    refused(lambda: call(node(node_id), parts), node_id, input_name, valid)


# ------------------------------------------------------------------------------- ranges


@pytest.mark.parametrize("cache", ["PyramidAttentionBroadcast", "FasterCache"])
@pytest.mark.parametrize("start,end,word", [(800, 100, "reversed"), (500, 500, "empty")])
def test_step_cache_window_must_not_be_reversed_or_empty(parts, cache, start, end, word):
    message = refused(lambda: node("DVStepCache").apply(parts[0], cache, 0.05, 2, start, end),
                      "DVStepCache", "timestep_start", "below timestep_end")
    assert f"{start}-{end} is {word}" in message


@pytest.mark.parametrize("t0,t1", [(5, 2), (3, 3)])
def test_text2video_zero_t0_must_be_before_t1(t0, t1):
    refused(lambda: node("DVText2VideoZeroOptions").build(12.0, 12.0, t0, t1),
            "DVText2VideoZeroOptions", "t0", "t0 < t1")


def test_step_cache_window_is_not_checked_for_caches_without_one(parts):
    (model,) = node("DVStepCache").apply(parts[0], "TaylorSeer", 0.05, 2, 800, 100)
    assert model.step_cache.name == "TaylorSeer"


# ------------------------------------------------------------------------------- options whose wire is missing


def test_video_to_video_strength_without_a_video_is_refused(parts, cond):
    (options,) = node("DVCogVideoXOptions").build(use_dynamic_cfg=False, strength=0.5)
    message = refused(lambda: node("DVSampler").sample(parts[0], 32, 32, 9, 2, 6.0, 0, conditioning=cond,
                                                       options=options),
                      "DVSampler", "options", "'video'", "0.8")
    assert "strength of 0.5" in message and "no video is wired in" in message


def test_default_strength_without_a_video_runs_with_a_warning(parts, cond, caplog):
    (options,) = node("DVCogVideoXOptions").build(use_dynamic_cfg=False, strength=0.8)
    with caplog.at_level(logging.WARNING, logger="DiffusersVideo"), torch.inference_mode():
        (latent,) = node("DVSampler").sample(parts[0], 32, 32, 9, 1, 6.0, 0, conditioning=cond, options=options)
    assert latent["samples"].shape[2] == 3
    assert any("strength" in r.getMessage() and "ignores it" in r.getMessage() for r in caplog.records)


def test_resize_mode_without_anything_to_resize_is_refused(parts, cond):
    (options,) = node("DVImageInputOptions").build("crop")
    message = refused(lambda: node("DVSampler").sample(parts[0], 32, 32, 9, 2, 6.0, 0, conditioning=cond,
                                                       options=options),
                      "DVSampler", "options", "resize_mode 'default'")
    assert "resize_mode 'crop'" in message and "none is wired in" in message


# ------------------------------------------------------------------------------- what check_inputs would refuse


@pytest.fixture(scope="module")
def animatediff(tiny_models_dir):
    from diffusers_video.tiny_models.cache import install_into_models_dir

    install_into_models_dir(tiny_models_dir, "sd15", "tiny-sd15")
    install_into_models_dir(tiny_models_dir, "motion_adapter", "tiny-motion-adapter", "animatediff_models")
    model, vae, text_encoder, _ = load_parts("tiny-sd15")
    with torch.inference_mode():
        (adapter,) = node("DVMotionAdapterLoader").load("tiny-motion-adapter", "fp32")
        (motion_model,) = node("DVApplyMotionAdapter").apply(model, adapter)
        (sd_cond,) = node("DVTextEncode").encode(text_encoder, PROMPT, "", 77, True)
    return model, motion_model, sd_cond


def test_animatediff_width_not_a_multiple_of_8(animatediff):
    _, motion_model, sd_cond = animatediff
    message = refused(lambda: node("DVSampler").sample(motion_model, 36, 32, 8, 2, 7.5, 0, conditioning=sd_cond),
                      "DVSampler", "width", "multiples of 8", "32 or 40")
    assert "36 is not divisible by 8" in message


def test_pix2pix_options_on_a_text2video_zero_run_are_refused(animatediff):
    from diffusers_video.model_loaders.components import DVSamplerOptions

    model, _, sd_cond = animatediff
    (zero,) = node("DVText2VideoZeroOptions").build(4.0, 2.0, 1, 2)
    (pix2pix,) = node("DVInstructPix2PixOptions").build(1.5)
    both = pix2pix.merged_with(zero)
    assert isinstance(both, DVSamplerOptions)
    message = refused(lambda: node("DVSampler").sample(model, 32, 32, 4, 5, 7.5, 0, conditioning=sd_cond,
                                                       options=both),
                      "DVSampler", "options", "remove DVInstructPix2PixOptions")
    assert "Text2Video-Zero run" in message


def test_text2video_zero_height_not_a_multiple_of_8(animatediff):
    model, _, sd_cond = animatediff
    (options,) = node("DVText2VideoZeroOptions").build(4.0, 2.0, 1, 2)
    refused(lambda: node("DVSampler").sample(model, 32, 20, 4, 5, 7.5, 0, conditioning=sd_cond, options=options),
            "DVSampler", "height", "multiples of 8")


svd_path, svd_parts = tiny_model_fixtures("svd")


def test_svd_one_frame(svd_parts):
    model, vae, _, _ = svd_parts
    message = refused(lambda: node("DVSampler").sample(model, 64, 48, 1, 1, 3.0, 0, vae=vae,
                                                       image=torch.rand(1, 48, 64, 3)),
                      "DVSampler", "num_frames", ">= 2", "nearest: 2")
    assert "cannot produce 1 frames" in message


i2v_path, i2v_parts = tiny_model_fixtures("cogvideox_i2v", "tiny-cogvideox-i2v")


def test_cogvideox_image_to_video_max_sequence_length(i2v_parts):
    model, vae, text_encoder, _ = i2v_parts
    trained = int(model.module.config.max_text_seq_length)
    with torch.inference_mode():
        (short,) = node("DVTextEncode").encode(text_encoder, PROMPT, "", 19, True)
    message = refused(lambda: node("DVSampler").sample(model, 64, 48, 9, 2, 6.0, 0, conditioning=short, vae=vae,
                                                       image=torch.rand(1, 48, 64, 3)),
                      "DVSampler", "conditioning", f"max_sequence_length {trained}")
    assert "19 tokens" in message


# ------------------------------------------------------------------------------- fixes of item 5


def test_text2video_zero_restores_processors_when_the_run_fails(animatediff, monkeypatch):
    model, _, sd_cond = animatediff
    before = {name: type(proc) for name, proc in model.module.attn_processors.items()}
    seen = []

    def interrupted(self, *args, **kwargs):  # ComfyUI's interrupt (or an OOM) arrives in the step callback
        seen.append({type(p).__name__ for p in model.module.attn_processors.values()})
        raise RuntimeError("interrupted mid-run")

    monkeypatch.setattr(host.Progress, "update", interrupted)
    (options,) = node("DVText2VideoZeroOptions").build(4.0, 2.0, 1, 2)
    with pytest.raises(RuntimeError, match="interrupted mid-run"), torch.inference_mode():
        node("DVSampler").sample(model, 32, 32, 4, 5, 7.5, 0, conditioning=sd_cond, options=options)
    # the failure came while the pipeline had cross-frame attention on
    assert seen and any(name.startswith("CrossFrameAttnProcessor") for name in seen[0])
    after = {name: type(proc) for name, proc in model.module.attn_processors.items()}
    assert after == before


def test_decode_retry_frees_the_failed_attempt_before_emptying_the_cache(monkeypatch):
    refs, alive_when_emptied = [], []

    def decode_fn(settings: DecodeSettings):
        if not refs:
            activations = torch.zeros(1024)  # what the failed attempt held, referenced by its frame only
            refs.append(weakref.ref(activations))
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return "frames"

    monkeypatch.setattr(host, "free_memory_bytes", lambda device: 1 << 40)
    monkeypatch.setattr(host, "soft_empty_cache", lambda: alive_when_emptied.append(refs[0]() is not None))
    vae = SimpleNamespace(geometry=SimpleNamespace(spatial=8, temporal=4),
                          managed=SimpleNamespace(device=torch.device("cpu")))
    assert decode_auto.decode(vae, {"samples": torch.zeros(1, 4, 3, 4, 4)}, decode_fn) == "frames"
    assert alive_when_emptied == [False]
