"""Wan2.1 image-to-video: the node graph against WanImageToVideoPipeline on a tiny offline model."""

from __future__ import annotations

import dataclasses
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


def graph(parts, guidance, width=W, height=H, frames=F, tokens=512, text_encoder=None, **inputs):
    model, vae, own_text_encoder, _ = parts
    with torch.inference_mode():
        (cond,) = DVTextEncode().encode(text_encoder or own_text_encoder, PROMPT, NEGATIVE, tokens, True)
        (latent,) = DVSampler().sample(model, width, height, frames, STEPS, guidance, SEED, conditioning=cond,
                                       **inputs)
        return DVVAEDecode().decode(vae, latent, 0, "off", 0, 0.0)[0]


def refused(parts, input_name: str, match: str, **kwargs) -> None:
    """The run fails before sampling with a DVInputError naming DVSampler and the input to fix."""
    with pytest.raises(DVInputError, match=match) as info:
        graph(parts, 5.0, **kwargs)
    assert f"DVSampler: input '{input_name}'" in str(info.value)


@pytest.mark.parametrize("guidance", [5.0, 1.0], ids=["cfg", "no-cfg"])
def test_graph_matches_pipeline(parts, path, guidance):
    from diffusers import WanImageToVideoPipeline
    from diffusers_video.samplers.image_input import to_pil

    frames = graph(parts, guidance, vae=parts[1], image=first_frame())
    pipe = WanImageToVideoPipeline.from_pretrained(path)
    reference = pipe(image=to_pil(first_frame()), prompt=PROMPT, negative_prompt=NEGATIVE, width=W, height=H,
                     num_frames=F, num_inference_steps=STEPS, guidance_scale=guidance,
                     generator=torch.Generator("cpu").manual_seed(SEED), output_type="np").frames[0]
    assert frames.shape == (F, H, W, 3)
    assert (frames - torch.from_numpy(reference)).abs().max().item() <= PARITY_TOLERANCE
    assert frames.std() > 0.01


def test_image_model_needs_an_image_and_its_vae(parts):
    refused(parts, "image", "image-to-video model, and no image", vae=parts[1])
    refused(parts, "vae", "encodes the image with its VAE", image=first_frame())


def test_text_model_given_an_image_is_refused(tiny_models_dir, path):
    with torch.inference_mode():
        t2v = DVPipelineLoader().load("tiny-wan", "fp32")
    refused(t2v, "image", "text-to-video model; it cannot start from an image", vae=t2v[1], image=first_frame())


def test_video_input_is_refused(parts):
    refused(parts, "video", "takes no video", vae=parts[1], image=first_frame(), video=first_frame())


def test_frames_and_size_are_checked(parts):
    refused(parts, "num_frames", "nearest: 5 or 9", frames=6, vae=parts[1], image=first_frame())
    refused(parts, "width", "not divisible by 16", width=40, vae=parts[1], image=first_frame())


def test_prompt_must_be_512_tokens(parts):
    """The I2V DiT takes the last 512 context tokens as text and the rest as image: other lengths would
    silently mix the two."""
    refused(parts, "conditioning", "needs exactly 512", tokens=226, vae=parts[1], image=first_frame())


def test_other_familys_text_encoder_and_vae_are_refused(parts, tiny_models_dir):
    with torch.inference_mode():
        _, cog_vae, cog_text_encoder, _ = DVPipelineLoader().load("tiny-cogvideox", "fp32")
    refused(parts, "conditioning", "CogVideoX", text_encoder=cog_text_encoder, vae=parts[1], image=first_frame())
    refused(parts, "vae", "CogVideoX VAE", vae=cog_vae, image=first_frame())


def test_model_without_its_image_encoder_is_refused(parts):
    model = dataclasses.replace(parts[0], companions={})
    refused((model, *parts[1:]), "model", "without its image_encoder", vae=parts[1], image=first_frame())


@pytest.mark.parametrize("extra, match", [({"pos_embed_seq_len": 2 * 32 * 32 + 2}, "FLF2V")], ids=["flf2v"])
def test_unsupported_image_models_are_named(parts, extra, match):
    from diffusers import WanTransformer3DModel
    from diffusers_video.host import ManagedModule

    config = {**parts[0].module.config, **extra}
    transformer = WanTransformer3DModel.from_config(config).eval()
    model = dataclasses.replace(parts[0], managed=ManagedModule(transformer, "variant"))
    refused((model, *parts[1:]), "model", match, vae=parts[1], image=first_frame())
