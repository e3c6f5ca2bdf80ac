"""Kandinsky 5 text- and image-to-video: the node graph against Kandinsky5T2VPipeline / Kandinsky5I2VPipeline on
tiny offline models."""

from __future__ import annotations

import pytest
import torch
from diffusers_video.errors import DVInputError
from parity import (
    Shot,
    as_pil,
    assert_parity,
    decode,
    encode_prompt,
    reference_frames,
    sample_latent,
    tiny_model_fixtures,
)

PROMPT, NEGATIVE = "a panda plays guitar in the forest", "blurry, low quality"
# 17 frames = 5 latent frames: what image-to-video needs at least, and more than the VAE's 4-frame window, so
# its framewise decode is exercised.
W, H, F, STEPS, SEED, MAX_LEN = 32, 32, 17, 2, 11, 32
SHOT = Shot(W, H, F, STEPS, 5.0, SEED, prompt=PROMPT, negative=NEGATIVE, max_len=MAX_LEN)
MEASURED: dict[str, float] = {}  # parity max |diff| per case, printed with -s

path, parts = tiny_model_fixtures("kandinsky5")
i2v_path, i2v_parts = tiny_model_fixtures("kandinsky5_i2v", "tiny-kandinsky5-i2v")


def first_frame() -> torch.Tensor:
    y = torch.linspace(0, 1, H)[:, None]
    x = torch.linspace(0, 1, W)[None, :]
    return torch.stack([x * torch.ones_like(y), y * torch.ones_like(x), (x * y) % 1], -1)[None]


def reference(folder: str, task: str, guidance: float, **kwargs) -> torch.Tensor:
    """The diffusers pipeline from the folder, its template crop counted on its own tokenizer as the nodes do
    (the pipeline's fixed 128 is the released Qwen2.5 tokenizer's count)."""
    from diffusers import Kandinsky5I2VPipeline, Kandinsky5T2VPipeline

    pipe = (Kandinsky5I2VPipeline if task == "i2v" else Kandinsky5T2VPipeline).from_pretrained(folder)
    template = pipe.prompt_template
    pipe.prompt_template_encode_start_idx = len(pipe.tokenizer(template[:template.index("{}")]).input_ids)
    return reference_frames(pipe, SHOT.but(guidance=guidance), **kwargs)


@pytest.fixture(scope="module")
def cond(parts):
    return encode_prompt(parts, SHOT)


@pytest.fixture(scope="module")
def i2v_cond(i2v_parts):
    return encode_prompt(i2v_parts, SHOT)


@pytest.mark.parametrize("guidance", [5.0, 1.0], ids=["cfg", "no-cfg"])
def test_t2v_graph_matches_pipeline(parts, path, cond, guidance):
    latent = sample_latent(parts, SHOT.but(guidance=guidance), conditioning=cond)
    assert latent["samples"].shape == (1, 16, (F - 1) // 4 + 1, H // 8, W // 8)
    MEASURED[f"t2v-{guidance}"] = assert_parity(decode(parts, latent), reference(path, "t2v", guidance))


@pytest.mark.parametrize("guidance", [5.0, 1.0], ids=["cfg", "no-cfg"])
def test_i2v_graph_matches_pipeline(i2v_parts, i2v_path, i2v_cond, guidance):
    latent = sample_latent(i2v_parts, SHOT.but(guidance=guidance), conditioning=i2v_cond, vae=i2v_parts[1],
                           image=first_frame())
    assert latent["samples"].shape == (1, 16, (F - 1) // 4 + 1, H // 8, W // 8)
    expected = reference(i2v_path, "i2v", guidance, image=as_pil(first_frame())[0])
    MEASURED[f"i2v-{guidance}"] = assert_parity(decode(i2v_parts, latent), expected)


def test_template_crop_is_counted_on_the_loaded_tokenizer(parts, cond):
    from diffusers_video.families.kandinsky5 import prompt_template, template_crop

    tokenizer = parts[2].tokenizer
    crop = template_crop(tokenizer)
    ids = tokenizer(prompt_template().format(PROMPT)).input_ids
    # What is left after the crop is the prompt and the template's closing <|im_end|>, nothing of the template.
    assert tokenizer.decode(ids[crop:]) == PROMPT + "<|im_end|>"
    assert cond.embeds["prompt_embeds_qwen"].shape == (1, len(ids) - crop, 32)
    assert cond.embeds["prompt_cu_seqlens"].tolist() == [0, len(ids) - crop]
    assert cond.embeds["prompt_embeds_clip"].shape == (1, 16)


def test_text_encoder_loader_brings_the_clip_encoder(cond):
    from diffusers_video.nodes.loaders import DVTextEncoderLoader
    from diffusers_video.nodes.sampling import DVTextEncode

    with torch.inference_mode():
        (te,) = DVTextEncoderLoader().load("tiny-kandinsky5/text_encoder", "fp32")
        (again,) = DVTextEncode().encode(te, PROMPT, NEGATIVE, MAX_LEN, True)
    assert type(te.extras["text_encoder_2"].module).__name__ == "CLIPTextModel"
    for key, value in cond.embeds.items():
        assert torch.equal(again.embeds[key], value), key


def test_long_prompt_refused_without_truncation(parts):
    from diffusers_video.nodes.sampling import DVTextEncode

    with pytest.raises(DVInputError) as info, torch.inference_mode():
        DVTextEncode().encode(parts[2], " ".join([PROMPT] * 8), NEGATIVE, MAX_LEN, False)
    assert "DVTextEncode: input 'prompt'" in str(info.value) and "Qwen2.5-VL" in str(info.value)


def refused(parts, cond, input_name: str, match: str, width=W, height=H, frames=F, **inputs) -> None:
    from diffusers_video.nodes.sampling import DVSampler

    with pytest.raises(DVInputError, match=match) as info, torch.inference_mode():
        DVSampler().sample(parts[0], width, height, frames, 1, 5.0, 0, conditioning=cond, **inputs)
    assert f"DVSampler: input '{input_name}'" in str(info.value)


def test_frames_must_be_4k_plus_1(parts, cond):
    refused(parts, cond, "num_frames", "13 or 17", frames=16)


@pytest.mark.parametrize("width,height,bad", [(40, 32, "width"), (32, 24, "height")])
def test_size_must_be_multiple_of_16(parts, cond, width, height, bad):
    refused(parts, cond, bad, "16", width=width, height=height)


def test_image_model_needs_an_image_its_vae_and_enough_frames(i2v_parts, i2v_cond):
    refused(i2v_parts, i2v_cond, "image", "image-to-video model, and no image", vae=i2v_parts[1])
    refused(i2v_parts, i2v_cond, "vae", "encodes the image with its VAE", image=first_frame())
    refused(i2v_parts, i2v_cond, "num_frames", "17 frames or more", frames=13, vae=i2v_parts[1],
            image=first_frame())


def test_text_model_given_an_image_is_refused(parts, cond):
    refused(parts, cond, "image", "text-to-video model; it cannot start from an image", vae=parts[1],
            image=first_frame())


def test_parity_report():
    print("\nKandinsky 5 parity max |diff|:", MEASURED)
