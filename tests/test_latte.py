"""Latte text-to-video: the node graph against LattePipeline on a tiny offline model (16 frames, the length its
temporal position embedding is fixed to, and a single frame), prompts encoded with the pipeline's masking."""

from __future__ import annotations

import pytest
import torch
from diffusers_video.errors import DVInputError
from diffusers_video.nodes.sampling import DVSampler, DVTextEncode
from diffusers_video.nodes.vae import DVVAEDecode
from parity import Shot, assert_parity, graph_frames, load_parts, reference_frames, tiny_model_fixtures

PROMPT, NEGATIVE = "a red panda plays guitar in a bamboo forest", "blurry, low quality"
W, H, F, STEPS, SEED = 48, 32, 16, 3, 7
SHOT = Shot(W, H, F, STEPS, guidance=7.5, seed=SEED, prompt=PROMPT, negative=NEGATIVE, max_len=120)

path, parts = tiny_model_fixtures("latte")


def reference(folder: str, shot: Shot = SHOT) -> torch.Tensor:
    from diffusers import LattePipeline

    return reference_frames(LattePipeline.from_pretrained(folder), shot, video_length=shot.frames)


@pytest.mark.parametrize(("guidance", "frames"), [(7.5, F), (1.0, F), (7.5, 1)], ids=["cfg", "no-cfg", "one-frame"])
def test_text_to_video_matches_pipeline(parts, path, guidance, frames):
    shot = SHOT.but(guidance=guidance, frames=frames)
    images = graph_frames(parts, shot)
    assert images.shape == (frames, H, W, 3)
    diff = assert_parity(images, reference(path, shot))
    print(f"latte guidance {guidance} frames {frames}: max |diff| {diff:.3g}")


def test_decode_chunks_give_the_same_frames(parts):
    """An image VAE decodes each frame alone: the chunk size changes memory, not frames (beyond fp32 rounding)."""
    from parity import decode, sample_latent

    latent = sample_latent(parts, SHOT.but(steps=1))
    assert_parity(decode(parts, latent, chunk=5), decode(parts, latent))


def refused(node: str, input_name: str, match: str, call) -> DVInputError:
    with pytest.raises(DVInputError, match=match) as info, torch.inference_mode():
        call()
    assert info.value.node == node and info.value.input_name == input_name
    assert f"{node}: input '{input_name}'" in str(info.value)
    return info.value


def test_bad_inputs_name_node_and_input(parts):
    model, vae, text_encoder, _ = parts
    with torch.inference_mode():
        (cond,) = DVTextEncode().encode(text_encoder, PROMPT, NEGATIVE, 120, True)

    def sampler(**changes):
        args = {"width": W, "height": H, "num_frames": F, "num_inference_steps": STEPS, "guidance_scale": 7.5,
                "seed": SEED, "conditioning": cond} | changes
        return lambda: DVSampler().sample(model, **args)

    refused("DVSampler", "num_frames", "cannot produce 24 frames.*covers exactly 16.*16 \\(a video\\) or 1",
            sampler(num_frames=24))
    refused("DVSampler", "num_frames", "cannot produce 31 frames", sampler(num_frames=31))  # 15k+1, still not 16
    refused("DVSampler", "width", "not divisible by 16.*nearest: 32 or 48", sampler(width=40))
    refused("DVSampler", "height", "not divisible by 16", sampler(height=24))
    refused("DVSampler", "image", "text-to-video only", sampler(image=torch.rand(1, H, W, 3)))
    refused("DVSampler", "conditioning", "nothing is wired in", sampler(conditioning=None))
    refused("DVTextEncode", "prompt", "over the text encoder's 120",
            lambda: DVTextEncode().encode(text_encoder, " ".join(["panda"] * 130), NEGATIVE, 226, False))


def test_other_familys_text_encoder_and_vae_are_refused(parts):
    model, vae, text_encoder, _ = parts
    _, cog_vae, cog_text_encoder, _ = load_parts("tiny-cogvideox")
    with torch.inference_mode():
        (cog_cond,) = DVTextEncode().encode(cog_text_encoder, PROMPT, NEGATIVE, 226, True)
        (cond,) = DVTextEncode().encode(text_encoder, PROMPT, NEGATIVE, 120, True)
        (latent,) = DVSampler().sample(model, W, H, F, 1, 7.5, SEED, conditioning=cond)
    refused("DVSampler", "conditioning", "CogVideoX text encoder",
            lambda: DVSampler().sample(model, W, H, F, STEPS, 7.5, SEED, conditioning=cog_cond))
    refused("DVSampler", "vae", "CogVideoX VAE",
            lambda: DVSampler().sample(model, W, H, F, STEPS, 7.5, SEED, conditioning=cond, vae=cog_vae))
    refused("DVVAEDecode", "vae", "made by a latte model",
            lambda: DVVAEDecode().decode(cog_vae, latent, 0, "off", 0, 0.0))
