"""Mochi-1 text-to-video: the node graph against MochiPipeline on a tiny offline model."""

from __future__ import annotations

import os

import pytest
import torch
from diffusers_video.errors import DVInputError
from diffusers_video.nodes.loaders import DVPipelineLoader
from diffusers_video.nodes.sampling import DVSampler, DVScheduler, DVTextEncode
from parity import Shot, assert_parity, decode, encode_prompt, reference_frames, sample_latent, tiny_model_fixtures

PROMPT, NEGATIVE = "a fox runs through the snow at night", "blurry, low quality"
W, H, F, STEPS, SEED, MAX_LEN = 64, 48, 13, 3, 11, 32  # 13 frames = 3 latent frames, so chunks of 1 and 2 differ
SHOT = Shot(W, H, F, STEPS, guidance=4.5, seed=SEED, prompt=PROMPT, negative=NEGATIVE, max_len=MAX_LEN)
# A chunked decode carries the causal convolutions' frames across chunks with the same replicate padding as
# the one-pass decode, so only float summation order differs (measured <= 3e-7 on 0..1 frames).
CHUNK_TOLERANCE = 1e-5
path, parts = tiny_model_fixtures("mochi")


@pytest.fixture(scope="module")
def cond(parts):
    return encode_prompt(parts, SHOT)


def sample(parts, cond, guidance=4.5, scheduler=None):
    return sample_latent(parts, SHOT.but(guidance=guidance), conditioning=cond, scheduler=scheduler)


def reference_pipe(path):
    from diffusers import MochiPipeline

    return MochiPipeline.from_pretrained(path)


@pytest.fixture(scope="module")
def cfg_latent(parts, cond):
    return sample(parts, cond)


@pytest.mark.parametrize("guidance", [4.5, 1.0], ids=["cfg", "no-cfg"])
def test_graph_matches_pipeline(parts, path, cond, cfg_latent, guidance):
    latent = cfg_latent if guidance == 4.5 else sample(parts, cond, guidance)
    assert latent["samples"].shape == (1, 12, (F - 1) // 6 + 1, H // 8, W // 8)
    assert_parity(decode(parts, latent), reference_frames(reference_pipe(path), SHOT.but(guidance=guidance)))


def test_cfg_changes_the_video(parts, cond, cfg_latent):
    assert (cfg_latent["samples"] - sample(parts, cond, 1.0)["samples"]).abs().max() > 1e-3


@pytest.mark.parametrize("chunk", [1, 2])
def test_chunked_decode_equals_one_pass(parts, cfg_latent, chunk):
    vae = parts[1].module
    full = decode(parts, cfg_latent)
    chunked = decode(parts, cfg_latent, chunk=chunk)
    assert chunked.shape == full.shape
    assert (chunked - full).abs().max().item() <= CHUNK_TOLERANCE
    # The VAE is shared by the graph: its one-pass setup is back after the node.
    assert vae.use_framewise_decoding is False and vae.num_latent_frames_batch_size == 2
    assert all("forward" not in vars(m) for m in vae.decoder.modules())


def test_tiled_decode_keeps_size_and_chunks(parts, cfg_latent):
    full = decode(parts, cfg_latent)
    tiled = decode(parts, cfg_latent, tiling="on", tile=32, overlap=0.25)
    assert tiled.shape == full.shape
    # Random tiny weights make seams larger than a trained VAE's; the frames must still be the same picture.
    assert (tiled - full).abs().mean().item() < 0.05
    tiled_chunked = decode(parts, cfg_latent, chunk=1, tiling="on", tile=32, overlap=0.25)
    assert (tiled_chunked - tiled).abs().max().item() <= CHUNK_TOLERANCE
    assert parts[1].module.use_tiling is False


def test_flow_match_euler_from_dvscheduler_keeps_the_models_config(parts, cond, cfg_latent):
    (spec,) = DVScheduler().build("FlowMatch Euler", "from model")
    latent = sample(parts, cond, scheduler=spec)
    assert torch.equal(latent["samples"], cfg_latent["samples"])


@pytest.mark.parametrize("name", ["UniPC", "DPM++ 2M"])
def test_scheduler_mochi_cannot_use_is_refused(parts, cond, name):
    from diffusers_video.model_loaders.components import DVSchedulerSpec

    # A flow-matching recipe from another model (Wan's UniPC on flow sigmas), and one that takes no sigmas.
    base = DVSchedulerSpec.from_config_dict("UniPCMultistepScheduler", {
        "prediction_type": "flow_prediction", "use_flow_sigmas": True, "flow_shift": 3.0})
    (spec,) = DVScheduler().build(name, "from model", base=base)
    with pytest.raises(DVInputError) as info:
        sample(parts, cond, scheduler=spec)
    assert "DVSampler: input 'scheduler'" in str(info.value)


def test_ddpm_scheduler_refused_for_flow_model(parts, cond):
    (spec,) = DVScheduler().build("DDIM", "from model")
    with pytest.raises(DVInputError) as info:
        DVSampler().sample(parts[0], W, H, F, 1, 4.5, 0, conditioning=cond, scheduler=spec)
    assert "DVSampler: input 'scheduler'" in str(info.value) and "flow-matching" in str(info.value)


def test_frames_must_be_6k_plus_1(parts, cond):
    with pytest.raises(DVInputError) as info:
        DVSampler().sample(parts[0], W, H, 84, 1, 4.5, 0, conditioning=cond)
    message = str(info.value)
    assert "DVSampler: input 'num_frames'" in message and "79 or 85" in message and "6k+1" in message


def test_one_step_is_refused_before_any_work(parts, cond, monkeypatch):
    """MochiPipeline's sigma schedule divides by num_steps // 2: one step is a ZeroDivisionError there."""
    from diffusers.pipelines.mochi.pipeline_mochi import linear_quadratic_schedule
    from diffusers_video.families import mochi

    with pytest.raises(ZeroDivisionError):
        linear_quadratic_schedule(1, 0.025)
    assert len(linear_quadratic_schedule(2, 0.025)) == 2
    monkeypatch.setattr(mochi, "_pipeline", lambda **_: pytest.fail("a pipeline was built"))
    with pytest.raises(DVInputError) as info:
        DVSampler().sample(parts[0], W, H, F, 1, 4.5, 0, conditioning=cond)
    message = str(info.value)
    assert "DVSampler: input 'num_inference_steps'" in message and "Valid: 2 or more" in message, message


@pytest.mark.parametrize("width,height,bad", [(56, 48, "width"), (64, 40, "height")])
def test_size_must_be_multiple_of_16(parts, cond, width, height, bad):
    # 56 and 40 pass the pipeline's own check (multiples of 8) but not the transformer's 2x2 patches.
    with pytest.raises(DVInputError) as info:
        DVSampler().sample(parts[0], width, height, F, 1, 4.5, 0, conditioning=cond)
    assert f"DVSampler: input '{bad}'" in str(info.value) and "16" in str(info.value)


def test_missing_conditioning_and_stray_image_refused(parts, cond):
    with pytest.raises(DVInputError) as info:
        DVSampler().sample(parts[0], W, H, F, 1, 4.5, 0)
    assert "DVSampler: input 'conditioning'" in str(info.value)
    with pytest.raises(DVInputError) as info:
        DVSampler().sample(parts[0], W, H, F, 1, 4.5, 0, conditioning=cond, image=torch.zeros(1, H, W, 3))
    assert "DVSampler: input 'image'" in str(info.value)


def test_other_family_text_encoder_refused(parts, tiny_models_dir):
    with torch.inference_mode():
        _, _, cog_text_encoder, _ = DVPipelineLoader().load("tiny-cogvideox", "fp32")
        (cog_cond,) = DVTextEncode().encode(cog_text_encoder, PROMPT, NEGATIVE, 226, True)
    with pytest.raises(DVInputError) as info:
        DVSampler().sample(parts[0], W, H, F, 1, 4.5, 0, conditioning=cog_cond)
    assert "DVSampler: input 'conditioning'" in str(info.value) and "CogVideoX" in str(info.value)


def test_text_encoder_of_wrong_width_refused(parts, cond):
    """A Mochi conditioning whose embeddings do not fit the transformer (e.g. another T5 than the folder's)."""
    from diffusers_video.model_loaders.components import DVConditioning

    embeds = dict(cond.embeds)
    for key in ("prompt_embeds", "negative_prompt_embeds"):
        embeds[key] = torch.zeros(*embeds[key].shape[:-1], 64)
    wrong = DVConditioning(cond.family, cond.prompt, cond.negative_prompt, embeds)
    with pytest.raises(DVInputError) as info:
        DVSampler().sample(parts[0], W, H, F, 2, 4.5, 0, conditioning=wrong)
    assert "DVSampler: input 'conditioning'" in str(info.value) and "32" in str(info.value)


def test_long_prompt_refused_without_truncation(parts):
    with pytest.raises(DVInputError) as info, torch.inference_mode():
        DVTextEncode().encode(parts[2], " ".join([PROMPT] * 10), NEGATIVE, 16, False)
    assert "DVTextEncode: input 'prompt'" in str(info.value)


def test_latent_of_another_family_refused(parts):
    latent = {"samples": torch.zeros(1, 16, 3, 6, 8), "dv_family": "wan"}
    with pytest.raises(DVInputError) as info:
        decode(parts, latent)
    assert "DVVAEDecode: input 'vae'" in str(info.value)
    with pytest.raises(DVInputError) as info:
        decode(parts, {"samples": torch.zeros(1, 16, 3, 6, 8)})
    assert "DVVAEDecode: input 'vae'" in str(info.value) and "12" in str(info.value)


def test_lora_matches_the_pipeline(parts, path, cond, cfg_latent, tiny_models_dir):
    from diffusers_video.nodes.loaders import DVLoraLoader
    from diffusers_video.tiny_models.lora import build_lora

    build_lora(path, os.path.join(tiny_models_dir, "loras", "mochi_a.safetensors"), seed=1)
    with torch.inference_mode():
        (with_lora,) = DVLoraLoader().load(parts[0], "mochi_a.safetensors", 0.7)
    latent = sample((with_lora, *parts[1:]), cond)
    pipe = reference_pipe(path)
    pipe.load_lora_weights(os.path.join(tiny_models_dir, "loras"), weight_name="mochi_a.safetensors",
                           adapter_name="mochi_a")
    pipe.set_adapters(["mochi_a"], [0.7])
    assert_parity(latent["samples"], reference_frames(pipe, SHOT, output_type="latent"))
    assert (latent["samples"] - cfg_latent["samples"]).abs().max().item() > 1e-3
    assert torch.equal(sample(parts, cond)["samples"], cfg_latent["samples"])  # the plain model is untouched
