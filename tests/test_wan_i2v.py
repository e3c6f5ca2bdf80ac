"""Wan2.1 image-to-video: the node graph against WanImageToVideoPipeline on a tiny offline model."""

from __future__ import annotations

import os

import pytest
import torch
from diffusers_video.errors import DVInputError
from diffusers_video.nodes.loaders import DVPipelineLoader
from diffusers_video.nodes.sampling import DVSampler, DVTextEncode
from diffusers_video.nodes.vae import DVVAEDecode

PROMPT, NEGATIVE = "a cat turns its head towards the window", "static, blurry"
W, H, F, STEPS, SEED = 32, 32, 5, 3, 13
PARITY_TOLERANCE = 1e-5  # fp32 CPU; measured 0.0


def first_frame() -> torch.Tensor:
    y = torch.linspace(0, 1, H)[:, None]
    x = torch.linspace(0, 1, W)[None, :]
    return torch.stack([x * torch.ones_like(y), y * torch.ones_like(x), (x * y) % 1], -1)[None]


@pytest.fixture(scope="module")
def path(tiny_models_dir):
    from diffusers_video.tiny_models.cache import install_into_models_dir

    install_into_models_dir(tiny_models_dir, "wan", "tiny-wan")
    return install_into_models_dir(tiny_models_dir, "wan_i2v", "tiny-wan-i2v")


@pytest.fixture(scope="module")
def parts(path):
    with torch.inference_mode():
        return DVPipelineLoader().load(os.path.basename(path), "fp32")


def graph(parts, guidance, **inputs):
    model, vae, text_encoder, _ = parts
    with torch.inference_mode():
        (cond,) = DVTextEncode().encode(text_encoder, PROMPT, NEGATIVE, 512, True)
        (latent,) = DVSampler().sample(model, W, H, F, STEPS, guidance, SEED, conditioning=cond, **inputs)
        return DVVAEDecode().decode(vae, latent, 0, "off", 0, 0.0)[0]


@pytest.mark.parametrize("guidance", [5.0, 1.0], ids=["cfg", "no-cfg"])
def test_graph_matches_pipeline(parts, path, guidance):
    from diffusers import WanImageToVideoPipeline
    from diffusers_video.samplers.svd import to_pil

    frames = graph(parts, guidance, vae=parts[1], image=first_frame())
    pipe = WanImageToVideoPipeline.from_pretrained(path)
    reference = pipe(image=to_pil(first_frame()), prompt=PROMPT, negative_prompt=NEGATIVE, width=W, height=H,
                     num_frames=F, num_inference_steps=STEPS, guidance_scale=guidance,
                     generator=torch.Generator("cpu").manual_seed(SEED), output_type="np").frames[0]
    assert frames.shape == (F, H, W, 3)
    assert (frames - torch.from_numpy(reference)).abs().max().item() <= PARITY_TOLERANCE
    assert frames.std() > 0.01


def test_image_model_needs_an_image_and_its_vae(parts):
    with pytest.raises(DVInputError, match="image-to-video model, and no image") as info:
        graph(parts, 5.0, vae=parts[1])
    assert "DVSampler" in str(info.value) and "image" in str(info.value)
    with pytest.raises(DVInputError, match="encodes the image with its VAE"):
        graph(parts, 5.0, image=first_frame())


def test_text_model_given_an_image_is_refused(tiny_models_dir, path):
    with torch.inference_mode():
        t2v = DVPipelineLoader().load("tiny-wan", "fp32")
    with pytest.raises(DVInputError, match="text-to-video model; it cannot start from an image"):
        graph(t2v, 5.0, vae=t2v[1], image=first_frame())


def test_video_input_is_refused(parts):
    with pytest.raises(DVInputError, match="takes no video"):
        graph(parts, 5.0, vae=parts[1], image=first_frame(), video=first_frame())
