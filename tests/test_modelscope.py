"""ModelScope text-to-video: the node graph against TextToVideoSDPipeline on a tiny offline model."""

from __future__ import annotations

import os

import pytest
import torch
from diffusers_video.errors import DVInputError
from diffusers_video.nodes.loaders import DVVAELoader
from diffusers_video.nodes.sampling import DVSampler, DVTextEncode
from parity import Shot, assert_parity, graph_frames, reference_frames, tiny_model_fixtures

PROMPT, NEGATIVE = "a small dog runs on the grass", "blurry"
W, H, F, STEPS, SEED = 64, 48, 6, 3, 77
SHOT = Shot(W, H, F, STEPS, guidance=9.0, seed=SEED, prompt=PROMPT, negative=NEGATIVE, max_len=77)
path, parts = tiny_model_fixtures("modelscope")


@pytest.mark.parametrize("guidance", [9.0, 1.0], ids=["cfg", "no-cfg"])
def test_graph_matches_pipeline(parts, path, guidance):
    from diffusers import TextToVideoSDPipeline

    shot = SHOT.but(guidance=guidance)
    assert_parity(graph_frames(parts, shot), reference_frames(TextToVideoSDPipeline.from_pretrained(path), shot))


def test_frame_chunks_decode_the_same_frames(parts):
    """An image VAE decodes every frame on its own, so chunking changes memory, not frames; only float
    rounding differs (CPU kernels block differently for another batch size), measured ~1e-7."""
    diff = (graph_frames(parts, SHOT, chunk=1) - graph_frames(parts, SHOT, chunk=0)).abs().max().item()
    assert diff <= 1e-5, diff


def test_tiled_decode_keeps_size_and_stays_close(parts):
    """Tiled decoding approximates (each tile sees only its neighbourhood); on this random tiny VAE, with
    48-px tiles over 64x48 frames, the mean difference is 0.028 (measured). Misplaced tiles would be ~0.2."""
    full = graph_frames(parts, SHOT)
    tiled = graph_frames(parts, SHOT, tiling="on", tile=48, overlap=0.5)
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
