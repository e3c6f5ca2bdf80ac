"""Wan2.1 image-to-video: the node graph against WanImageToVideoPipeline on a tiny offline model."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from diffusers_video.errors import DVInputError
from parity import Shot, as_pil, assert_parity, graph_frames, load_parts, reference_frames, tiny_model_fixtures

PROMPT, NEGATIVE = "a cat turns its head towards the window", "static, blurry"
W, H, F, STEPS, SEED = 32, 32, 5, 3, 13
SHOT = Shot(W, H, F, STEPS, guidance=5.0, seed=SEED, prompt=PROMPT, negative=NEGATIVE, max_len=512)


def first_frame() -> torch.Tensor:
    y = torch.linspace(0, 1, H)[:, None]
    x = torch.linspace(0, 1, W)[None, :]
    return torch.stack([x * torch.ones_like(y), y * torch.ones_like(x), (x * y) % 1], -1)[None]


path, parts = tiny_model_fixtures("wan_i2v", "tiny-wan-i2v")
t2v_path, t2v_parts = tiny_model_fixtures("wan")


def graph(parts, guidance=5.0, shot=SHOT, text_encoder=None, **inputs):
    """The graph on the shot (with this guidance), its prompt encoded by text_encoder if given."""
    if text_encoder is not None:
        parts = (parts[0], parts[1], text_encoder, *parts[3:])
    return graph_frames(parts, shot.but(guidance=guidance), **inputs)


def refused(parts, input_name: str, match: str, shot=SHOT, **kwargs) -> None:
    """The run fails before sampling with a DVInputError naming DVSampler and the input to fix."""
    with pytest.raises(DVInputError, match=match) as info:
        graph(parts, 5.0, shot, **kwargs)
    assert f"DVSampler: input '{input_name}'" in str(info.value)


@pytest.mark.parametrize("guidance", [5.0, 1.0], ids=["cfg", "no-cfg"])
def test_graph_matches_pipeline(parts, path, guidance):
    from diffusers import WanImageToVideoPipeline

    frames = graph(parts, guidance, vae=parts[1], image=first_frame())
    pipe = WanImageToVideoPipeline.from_pretrained(path)
    assert frames.shape == (F, H, W, 3)
    assert_parity(frames, reference_frames(pipe, SHOT.but(guidance=guidance), image=as_pil(first_frame())[0]))


def test_image_model_needs_an_image_and_its_vae(parts):
    refused(parts, "image", "image-to-video model, and no image", vae=parts[1])
    refused(parts, "vae", "encodes the image with its VAE", image=first_frame())


def test_text_model_given_an_image_is_refused(t2v_parts):
    refused(t2v_parts, "image", "text-to-video model; it cannot start from an image", vae=t2v_parts[1],
            image=first_frame())


def test_video_input_is_refused(parts):
    refused(parts, "video", "takes no video", vae=parts[1], image=first_frame(), video=first_frame())


def test_frames_and_size_are_checked(parts):
    refused(parts, "num_frames", "nearest: 5 or 9", SHOT.but(frames=6), vae=parts[1], image=first_frame())
    refused(parts, "width", "not divisible by 16", SHOT.but(width=40), vae=parts[1], image=first_frame())


def test_prompt_must_be_512_tokens(parts):
    """The I2V DiT takes the last 512 context tokens as text and the rest as image: other lengths would
    silently mix the two."""
    refused(parts, "conditioning", "needs exactly 512", SHOT.but(max_len=226), vae=parts[1], image=first_frame())


def test_other_familys_text_encoder_and_vae_are_refused(parts, tiny_models_dir):
    _, cog_vae, cog_text_encoder, _ = load_parts("tiny-cogvideox")
    refused(parts, "conditioning", "CogVideoX", text_encoder=cog_text_encoder, vae=parts[1], image=first_frame())
    refused(parts, "vae", "CogVideoX VAE", vae=cog_vae, image=first_frame())


def test_model_without_its_image_encoder_is_refused(parts):
    model = dataclasses.replace(parts[0], companions={})
    refused((model, *parts[1:]), "model", "without its image_encoder", vae=parts[1], image=first_frame())


def test_first_last_frame_model_without_a_last_frame_is_refused(parts):
    """Wan2.1-FLF2V (learned positions for two images' CLIP tokens) runs with DVWanOptions' last_image
    (tests/test_wan_flf_v2v.py); without it, the missing wire is named."""
    from diffusers import WanTransformer3DModel
    from diffusers_video.host import ManagedModule

    config = {**parts[0].module.config, "pos_embed_seq_len": 2 * 32 * 32 + 2}
    transformer = WanTransformer3DModel.from_config(config).eval()
    model = dataclasses.replace(parts[0], managed=ManagedModule(transformer, "variant"))
    refused((model, *parts[1:]), "last_image", "FLF2V", vae=parts[1], image=first_frame())
