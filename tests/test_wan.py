"""Wan2.1 text-to-video: the node graph against WanPipeline on a tiny offline model."""

from __future__ import annotations

import os

import pytest
import torch
from diffusers_video.errors import DVInputError
from diffusers_video.nodes.loaders import DVPipelineLoader
from diffusers_video.nodes.sampling import DVSampler, DVScheduler, DVTextEncode
from diffusers_video.nodes.vae import DVVAEDecode

PROMPT, NEGATIVE = "a fox runs through the snow at night", "blurry, low quality"
W, H, F, STEPS, SEED = 64, 48, 9, 3, 11
PARITY_TOLERANCE = 1e-5  # fp32 CPU; measured 0.0


@pytest.fixture(scope="module")
def path(tiny_models_dir):
    from diffusers_video.tiny_models.cache import install_into_models_dir

    return install_into_models_dir(tiny_models_dir, "wan", "tiny-wan")


@pytest.fixture(scope="module")
def parts(path):
    with torch.inference_mode():
        return DVPipelineLoader().load(os.path.basename(path), "fp32")


def run_graph(parts, guidance=5.0, scheduler=None, tiling="off", tile=0, overlap=0.0):
    model, vae, text_encoder, _ = parts
    with torch.inference_mode():
        (cond,) = DVTextEncode().encode(text_encoder, PROMPT, NEGATIVE, 512, True)
        (latent,) = DVSampler().sample(model, W, H, F, STEPS, guidance, SEED, conditioning=cond, scheduler=scheduler)
        return DVVAEDecode().decode(vae, latent, 0, tiling, tile, overlap)[0]


def reference(path, guidance=5.0, scheduler=None):
    from diffusers import WanPipeline

    pipe = WanPipeline.from_pretrained(path)
    if scheduler is not None:
        pipe.scheduler = scheduler.from_config(pipe.scheduler.config)
    out = pipe(prompt=PROMPT, negative_prompt=NEGATIVE, width=W, height=H, num_frames=F, num_inference_steps=STEPS,
               guidance_scale=guidance, generator=torch.Generator("cpu").manual_seed(SEED), output_type="np")
    return torch.from_numpy(out.frames[0])


@pytest.mark.parametrize("guidance", [5.0, 1.0], ids=["cfg", "no-cfg"])
def test_graph_matches_pipeline(parts, path, guidance):
    frames = run_graph(parts, guidance)
    assert frames.shape == (F, H, W, 3)
    assert (frames - reference(path, guidance)).abs().max().item() <= PARITY_TOLERANCE
    assert frames.std() > 0.01


def test_flow_match_euler_keeps_the_models_shift(parts, path):
    from diffusers import FlowMatchEulerDiscreteScheduler

    (spec,) = DVScheduler().build("FlowMatch Euler", "from model")
    frames = run_graph(parts, scheduler=spec)
    from diffusers import WanPipeline

    pipe = WanPipeline.from_pretrained(path)
    pipe.scheduler = FlowMatchEulerDiscreteScheduler(shift=3.0, num_train_timesteps=1000)
    out = pipe(prompt=PROMPT, negative_prompt=NEGATIVE, width=W, height=H, num_frames=F, num_inference_steps=STEPS,
               guidance_scale=5.0, generator=torch.Generator("cpu").manual_seed(SEED), output_type="np")
    assert (frames - torch.from_numpy(out.frames[0])).abs().max().item() <= PARITY_TOLERANCE


def test_ddpm_scheduler_refused_for_flow_model(parts):
    model, _, text_encoder, _ = parts
    (spec,) = DVScheduler().build("DDIM", "from model")
    with torch.inference_mode():
        (cond,) = DVTextEncode().encode(text_encoder, PROMPT, NEGATIVE, 512, True)
    with pytest.raises(DVInputError) as info:
        DVSampler().sample(model, W, H, F, 1, 5.0, 0, conditioning=cond, scheduler=spec)
    assert "DVSampler: input 'scheduler'" in str(info.value) and "flow-matching" in str(info.value)


def test_tiled_decode_keeps_size(parts):
    full = run_graph(parts)
    tiled = run_graph(parts, tiling="on", tile=32, overlap=0.25)
    assert tiled.shape == full.shape
    assert (tiled - full).abs().mean().item() < 0.05


def test_frames_must_be_4k_plus_1(parts):
    model, _, text_encoder, _ = parts
    with torch.inference_mode():
        (cond,) = DVTextEncode().encode(text_encoder, PROMPT, NEGATIVE, 512, True)
    with pytest.raises(DVInputError) as info:
        DVSampler().sample(model, W, H, 80, 1, 5.0, 0, conditioning=cond)
    assert "DVSampler: input 'num_frames'" in str(info.value) and "77 or 81" in str(info.value)


def test_cogvideox_text_encoder_refused(parts, tiny_models_dir):
    with torch.inference_mode():
        _, _, cog_text_encoder, _ = DVPipelineLoader().load("tiny-cogvideox", "fp32")
        (cond,) = DVTextEncode().encode(cog_text_encoder, PROMPT, NEGATIVE, 226, True)
    with pytest.raises(DVInputError) as info:
        DVSampler().sample(parts[0], W, H, F, 1, 5.0, 0, conditioning=cond)
    assert "DVSampler: input 'conditioning'" in str(info.value) and "CogVideoX" in str(info.value)
