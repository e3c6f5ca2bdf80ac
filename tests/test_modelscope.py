"""ModelScope text-to-video: the node graph against TextToVideoSDPipeline on a tiny offline model."""

from __future__ import annotations

import os

import pytest
import torch
from diffusers_video.errors import DVInputError
from diffusers_video.nodes.loaders import DVPipelineLoader, DVVAELoader
from diffusers_video.nodes.sampling import DVSampler, DVTextEncode
from diffusers_video.nodes.vae import DVVAEDecode

PROMPT, NEGATIVE = "a small dog runs on the grass", "blurry"
W, H, F, STEPS, SEED = 64, 48, 6, 3, 77
PARITY_TOLERANCE = 1e-5  # fp32 CPU; measured 0.0


@pytest.fixture(scope="module")
def path(tiny_models_dir):
    from diffusers_video.tiny_models.cache import install_into_models_dir

    return install_into_models_dir(tiny_models_dir, "modelscope", "tiny-modelscope")


@pytest.fixture(scope="module")
def parts(path):
    with torch.inference_mode():
        return DVPipelineLoader().load(os.path.basename(path), "fp32")


def run_graph(parts, guidance=9.0, chunk=0, tiling="off", tile=0, overlap=0.0, frames=F):
    model, vae, text_encoder, _ = parts
    with torch.inference_mode():
        (cond,) = DVTextEncode().encode(text_encoder, PROMPT, NEGATIVE, 77, True)
        (latent,) = DVSampler().sample(model, W, H, frames, STEPS, guidance, SEED, conditioning=cond)
        return DVVAEDecode().decode(vae, latent, chunk, tiling, tile, overlap)[0]


@pytest.mark.parametrize("guidance", [9.0, 1.0], ids=["cfg", "no-cfg"])
def test_graph_matches_pipeline(parts, path, guidance):
    from diffusers import TextToVideoSDPipeline

    frames = run_graph(parts, guidance)
    expected = TextToVideoSDPipeline.from_pretrained(path)(
        prompt=PROMPT, negative_prompt=NEGATIVE, width=W, height=H, num_frames=F, num_inference_steps=STEPS,
        guidance_scale=guidance, generator=torch.Generator("cpu").manual_seed(SEED), output_type="np").frames[0]
    assert frames.shape == (F, H, W, 3)
    assert (frames - torch.from_numpy(expected)).abs().max().item() <= PARITY_TOLERANCE
    assert frames.std() > 0.01


def test_frame_chunks_decode_the_same_frames(parts):
    """An image VAE decodes every frame on its own, so chunking changes memory, not frames; only float
    rounding differs (CPU kernels block differently for another batch size), measured ~1e-7."""
    diff = (run_graph(parts, chunk=1) - run_graph(parts, chunk=0)).abs().max().item()
    assert diff <= 1e-5, diff


def test_tiled_decode_keeps_size_and_stays_close(parts):
    """Tiled decoding approximates (each tile sees only its neighbourhood); on this random tiny VAE, with
    48-px tiles over 64x48 frames, the mean difference is 0.028 (measured). Misplaced tiles would be ~0.2."""
    full = run_graph(parts)
    tiled = run_graph(parts, tiling="on", tile=48, overlap=0.5)
    assert tiled.shape == full.shape
    assert (tiled - full).abs().mean().item() < 0.05


def test_vae_loader_finds_the_family_from_the_folder(path):
    with torch.inference_mode():
        (vae,) = DVVAELoader().load(f"{os.path.basename(path)}/vae", "fp32")
    assert vae.family.id == "modelscope"


def test_size_must_divide_by_the_vae_factor(parts):
    model, _, text_encoder, _ = parts
    with torch.inference_mode():
        (cond,) = DVTextEncode().encode(text_encoder, PROMPT, NEGATIVE, 77, True)
    with pytest.raises(DVInputError) as info:
        DVSampler().sample(model, 60, H, F, 1, 9.0, 0, conditioning=cond)
    assert "DVSampler: input 'width'" in str(info.value) and "56 or 64" in str(info.value)


def test_long_prompt_is_stated_against_clip_limit(parts):
    with torch.inference_mode(), pytest.raises(DVInputError) as info:
        DVTextEncode().encode(parts[2], "a small dog " * 60, "", 77, False)
    assert "DVTextEncode: input 'prompt'" in str(info.value) and "77" in str(info.value)
