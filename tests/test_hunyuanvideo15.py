"""HunyuanVideo-1.5 text- and image-to-video: the node graph against HunyuanVideo15Pipeline /
HunyuanVideo15ImageToVideoPipeline on tiny offline models."""

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

# Quoted text goes through the ByT5 glyph encoder too, so both text encoders are exercised.
PROMPT, NEGATIVE = 'a neon sign that says "OPEN" above a cafe door', "blurry, low quality"
# 48x32 is the bucket the tiny I2V DiT (target_size 48) picks for a 3:2 image, so the I2V pipeline renders at
# the size the graph is given. 9 frames = 3 latent frames. MAX_LEN 64 on both sides keeps the Qwen pass short
# (the pipelines' tokenizer_max_length is 1000).
W, H, F, STEPS, SEED, MAX_LEN = 48, 32, 9, 2, 5, 64
SHOT = Shot(W, H, F, STEPS, 6.0, SEED, prompt=PROMPT, negative=NEGATIVE, max_len=MAX_LEN)
CHANNELS = 4  # the tiny VAE's latent channels
MEASURED: dict[str, float] = {}  # parity max |diff| per case, printed with -s

path, parts = tiny_model_fixtures("hunyuanvideo15")
i2v_path, i2v_parts = tiny_model_fixtures("hunyuanvideo15_i2v", "tiny-hunyuanvideo15-i2v")


def first_frame(width: int = W, height: int = H) -> torch.Tensor:
    y = torch.linspace(0, 1, height)[:, None]
    x = torch.linspace(0, 1, width)[None, :]
    return torch.stack([x * torch.ones_like(y), y * torch.ones_like(x), (x * 3 * y) % 1], -1)[None]


def reference(folder: str, task: str, guidance: float, **kwargs) -> torch.Tensor:
    """The diffusers pipeline from the folder, unmodified but for its guider's guidance_scale (the documented
    `pipe.guider.new(...)`) and its tokenizer_max_length (the graph's max_sequence_length)."""
    from diffusers import HunyuanVideo15ImageToVideoPipeline, HunyuanVideo15Pipeline

    pipe = (HunyuanVideo15ImageToVideoPipeline if task == "i2v" else HunyuanVideo15Pipeline).from_pretrained(folder)
    pipe.guider = pipe.guider.new(guidance_scale=guidance)
    pipe.tokenizer_max_length = MAX_LEN
    return reference_frames(pipe, SHOT.but(guidance=guidance), **kwargs)


@pytest.fixture(scope="module")
def cond(parts):
    return encode_prompt(parts, SHOT)


@pytest.fixture(scope="module")
def i2v_cond(i2v_parts):
    return encode_prompt(i2v_parts, SHOT)


@pytest.mark.parametrize("guidance", [6.0, 1.0], ids=["cfg", "no-cfg"])
def test_t2v_graph_matches_pipeline(parts, path, cond, guidance):
    latent = sample_latent(parts, SHOT.but(guidance=guidance), conditioning=cond)
    assert latent["samples"].shape == (1, CHANNELS, (F - 1) // 4 + 1, H // 16, W // 16)
    MEASURED[f"t2v-{guidance}"] = assert_parity(decode(parts, latent), reference(path, "t2v", guidance))


def test_i2v_graph_matches_pipeline(i2v_parts, i2v_path, i2v_cond):
    latent = sample_latent(i2v_parts, SHOT, conditioning=i2v_cond, vae=i2v_parts[1], image=first_frame())
    assert latent["samples"].shape == (1, CHANNELS, (F - 1) // 4 + 1, H // 16, W // 16)
    expected = reference(i2v_path, "i2v", SHOT.guidance, image=as_pil(first_frame())[0])
    MEASURED["i2v"] = assert_parity(decode(i2v_parts, latent), expected)


def test_i2v_renders_at_the_size_asked_not_the_bucket(i2v_parts, i2v_cond, caplog):
    with caplog.at_level("INFO", logger="DiffusersVideo"):
        latent = sample_latent(i2v_parts, SHOT.but(width=32, height=32, steps=1), conditioning=i2v_cond,
                               vae=i2v_parts[1], image=first_frame())
    assert latent["samples"].shape == (1, CHANNELS, 3, 2, 2)
    assert "would pick 48x32" in caplog.text  # the pipeline's bucket for this 3:2 image, said


def test_tiled_decode_keeps_the_size_and_stays_close(parts, cond):
    latent = sample_latent(parts, SHOT.but(steps=1), conditioning=cond)
    whole = decode(parts, latent)
    tiled = decode(parts, latent, tiling="on", tile=32, overlap=0.5)  # 2x2 latent tiles stepping by 1: 6 calls
    assert tiled.shape == whole.shape == (F, H, W, 3)
    assert torch.isfinite(tiled).all() and (tiled - whole).abs().mean() < 0.2


def test_720p_release_is_a_variant_with_its_size():
    from diffusers_video.families import by_id

    family = by_id("hunyuanvideo15")
    assert family.resolved({"denoiser": {"target_size": 640}}).defaults["width"] == 848
    released = family.resolved({"denoiser": {"target_size": 960}})
    assert released.variant == "720p" and (released.defaults["width"], released.defaults["height"]) == (1280, 720)


def test_loader_tells_the_release_and_task_from_the_folder(parts, i2v_parts):
    from diffusers_video.families import family_for_class

    assert parts[0].family.id == i2v_parts[0].family.id == "hunyuanvideo15"
    assert family_for_class("HunyuanVideoPipeline").id == "hunyuanvideo"  # 1.0 folders stay HunyuanVideo's
    assert parts[0].pipeline_config["_class_name"] == "HunyuanVideo15Pipeline"
    assert i2v_parts[0].pipeline_config["_class_name"] == "HunyuanVideo15ImageToVideoPipeline"
    assert set(i2v_parts[0].companions) >= {"guider", "image_encoder", "feature_extractor"}
    assert parts[0].geometry.spatial == 16 and parts[0].geometry.temporal == 4


def test_template_crop_and_constants_are_the_pipelines(parts, path, cond):
    from diffusers import HunyuanVideo15Pipeline
    from diffusers_video.families.hunyuanvideo15 import _chat, _pipeline_defaults, template_crop

    pipe = HunyuanVideo15Pipeline.from_pretrained(path)
    fixed = _pipeline_defaults()
    assert fixed == {"system_message": pipe.system_message, "crop_start": pipe.prompt_template_encode_start_idx,
                     "byt5_tokens": pipe.tokenizer_2_max_length}
    tokenizer = parts[2].tokenizer
    assert template_crop(tokenizer) == 108  # the tiny vocabulary keeps the header's pre-tokens whole, as Qwen2.5's
    ids = tokenizer(_chat(tokenizer, PROMPT)).input_ids
    assert tokenizer.decode(ids[108:]).startswith(PROMPT + "<|im_end|>")
    assert cond.embeds["prompt_embeds"].shape == (1, MAX_LEN, 16)
    assert int(cond.embeds["prompt_embeds_mask"].sum()) == len(ids) - 108
    # The quoted word reaches ByT5 ('Text "OPEN". ' plus </s>); the negative prompt has none: zeros.
    assert int(cond.embeds["prompt_embeds_mask_2"].sum()) == len('Text "OPEN". ') + 1
    assert not cond.embeds["negative_prompt_embeds_2"].any()


def test_text_encoder_loader_brings_the_byt5_encoder(cond):
    from diffusers_video.nodes.loaders import DVTextEncoderLoader
    from diffusers_video.nodes.sampling import DVTextEncode

    with torch.inference_mode():
        (te,) = DVTextEncoderLoader().load("tiny-hunyuanvideo15/text_encoder", "fp32")
        (again,) = DVTextEncode().encode(te, PROMPT, NEGATIVE, MAX_LEN, True)
    assert type(te.extras["text_encoder_2"].module).__name__ == "T5EncoderModel"
    for key, value in cond.embeds.items():
        assert torch.equal(again.embeds[key], value), key


def test_long_prompt_refused_without_truncation(parts):
    from diffusers_video.nodes.sampling import DVTextEncode

    with pytest.raises(DVInputError) as info, torch.inference_mode():
        DVTextEncode().encode(parts[2], " ".join([PROMPT] * 8), NEGATIVE, MAX_LEN, False)
    assert "DVTextEncode: input 'prompt'" in str(info.value) and "Qwen2.5-VL" in str(info.value)


def refused(parts, cond, input_name: str, match: str, width=W, height=H, frames=F, **inputs) -> str:
    from diffusers_video.nodes.sampling import DVSampler

    with pytest.raises(DVInputError, match=match) as info, torch.inference_mode():
        DVSampler().sample(parts[0], width, height, frames, 1, 6.0, 0, conditioning=cond, **inputs)
    assert f"DVSampler: input '{input_name}'" in str(info.value)
    return str(info.value)


def test_frames_must_be_4k_plus_1(parts, cond):
    refused(parts, cond, "num_frames", "5 or 9", frames=8)


@pytest.mark.parametrize("width,height,bad", [(40, 32, "width"), (48, 24, "height")])
def test_size_must_be_multiple_of_16(parts, cond, width, height, bad):
    refused(parts, cond, bad, "multiples of 16", width=width, height=height)


def test_image_release_needs_its_image_and_vae(i2v_parts, i2v_cond):
    refused(i2v_parts, i2v_cond, "image", "image-to-video release, and no image", vae=i2v_parts[1])
    refused(i2v_parts, i2v_cond, "vae", "encodes the image with its VAE", image=first_frame())


def test_image_of_the_wrong_kind_is_refused(i2v_parts, i2v_cond):
    mask = torch.ones(1, H, W)  # a MASK wired where the IMAGE goes
    message = refused(i2v_parts, i2v_cond, "image", "not an IMAGE batch", image=mask, vae=i2v_parts[1])
    assert "Load Image" in message


def test_text_release_given_an_image_is_refused(parts, cond):
    refused(parts, cond, "image", "SigLIP image encoder", vae=parts[1], image=first_frame())


def test_conditioning_of_another_family_is_refused(i2v_parts, cond):
    from diffusers_video.families import by_id
    from diffusers_video.model_loaders.components import DVConditioning

    other = DVConditioning(by_id("hunyuanvideo"), PROMPT, NEGATIVE, cond.embeds)
    refused(i2v_parts, other, "conditioning", "HunyuanVideo text encoder", image=first_frame(), vae=i2v_parts[1])


def test_parity_report():
    print("\nHunyuanVideo-1.5 parity max |diff|:", MEASURED)
