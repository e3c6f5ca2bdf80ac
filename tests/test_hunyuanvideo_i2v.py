"""HunyuanVideo image-to-video: HunyuanVideo-I2V (HunyuanVideoImageToVideoPipeline, both releases: token replace
and the 33-channel latent concat) and SkyReels-V1 (HunyuanSkyreelsImageToVideoPipeline), the node graph against
the diffusers pipelines on tiny offline models."""

from __future__ import annotations

import pytest
import torch
from diffusers_video.errors import DVInputError
from diffusers_video.nodes.options import NODES as OPTION_NODES
from parity import (
    Shot,
    as_pil,
    assert_parity,
    decode,
    encode_prompt,
    independent,
    reference_frames,
    sample_latent,
    tiny_model_fixtures,
)

PROMPT, NEGATIVE = "a panda turns its head and smiles", "blurry, low quality"
W, H, F, STEPS, SEED, MAX_LEN = 64, 48, 9, 2, 7, 32
SHOT = Shot(W, H, F, STEPS, 6.0, SEED, prompt=PROMPT, negative=NEGATIVE, max_len=MAX_LEN)
Options = next(node for node in OPTION_NODES if node.__name__ == "DVHunyuanVideoOptions")

i2v_path, i2v_parts = tiny_model_fixtures("hunyuanvideo_i2v", "tiny-hunyuanvideo-i2v")
concat_path, concat_parts = tiny_model_fixtures("hunyuanvideo_i2v_33ch", "tiny-hunyuanvideo-i2v-33ch")
sky_path, sky_parts = tiny_model_fixtures("skyreels_v1_i2v", "tiny-skyreels-v1-i2v")
path, parts = tiny_model_fixtures("hunyuanvideo")  # text-to-video, for the refusals


def first_frame() -> torch.Tensor:
    y = torch.linspace(0, 1, H)[:, None]
    x = torch.linspace(0, 1, W)[None, :]
    return torch.stack([x * torch.ones_like(y), y * torch.ones_like(x), (x * 7 * y) % 1], -1)[None]


def graph(parts, shot=SHOT, true_cfg_scale=None, cond=None, **inputs) -> dict:
    if true_cfg_scale is not None:
        inputs["options"] = Options().build(true_cfg_scale=true_cfg_scale)[0]
    inputs.setdefault("vae", parts[1])
    inputs.setdefault("image", first_frame())
    if cond is not None:
        inputs["conditioning"] = cond
    return sample_latent(parts, shot, **inputs)


@independent
def i2v_template(pipe) -> dict:
    """HunyuanVideoImageToVideoPipeline's default template counted on the tiny tokenizer and Llava (its
    defaults, crop 103 and 576 image tokens from position 5, are llava-llama-3-8b's)."""
    from diffusers.pipelines.hunyuan_video.pipeline_hunyuan_video_image2video import DEFAULT_PROMPT_TEMPLATE

    template = DEFAULT_PROMPT_TEMPLATE["template"]
    ids = pipe.tokenizer(template).input_ids
    start = ids.index(pipe.text_encoder.config.image_token_index)
    vision = pipe.text_encoder.config.vision_config
    count = (vision.image_size // vision.patch_size) ** 2
    return {"template": template, "crop_start": len(pipe.tokenizer(template[:template.index("{}")]).input_ids),
            "image_emb_start": start, "image_emb_len": count, "image_emb_end": start + count}


@independent
def t2v_template(pipe) -> dict:
    from diffusers.pipelines.hunyuan_video.pipeline_hunyuan_video import DEFAULT_PROMPT_TEMPLATE

    template = DEFAULT_PROMPT_TEMPLATE["template"]
    return {"template": template, "crop_start": len(pipe.tokenizer(template[:template.index("{}")]).input_ids)}


def i2v_reference(path, shot=SHOT, true_cfg_scale=1.0):
    from diffusers import HunyuanVideoImageToVideoPipeline

    pipe = HunyuanVideoImageToVideoPipeline.from_pretrained(path)
    return reference_frames(pipe, shot, image=as_pil(first_frame())[0], prompt_template=i2v_template(pipe),
                            true_cfg_scale=true_cfg_scale)


def skyreels_reference(path, shot=SHOT, true_cfg_scale=6.0):
    from diffusers import HunyuanSkyreelsImageToVideoPipeline

    pipe = HunyuanSkyreelsImageToVideoPipeline.from_pretrained(path)
    return reference_frames(pipe, shot, image=as_pil(first_frame())[0], prompt_template=t2v_template(pipe),
                            true_cfg_scale=true_cfg_scale)


# ------------------------------------------------------------------------------------------------- parity


@pytest.mark.parametrize("true_cfg_scale", [None, 3.0], ids=["embedded-guidance", "true-cfg"])
def test_i2v_matches_pipeline(i2v_parts, i2v_path, true_cfg_scale):
    assert i2v_parts[0].family.variant == "hunyuanvideo-i2v" and i2v_parts[0].family.label == "HunyuanVideo-I2V"
    latent = graph(i2v_parts, true_cfg_scale=true_cfg_scale)
    assert latent["samples"].shape == (1, 16, (F - 1) // 4 + 1, H // 8, W // 8)
    frames = decode(i2v_parts, latent)
    assert frames.shape == (F, H, W, 3)
    diff = assert_parity(frames, i2v_reference(i2v_path, true_cfg_scale=true_cfg_scale or 1.0))
    print(f"HunyuanVideo-I2V parity max |diff| {diff:.3g}")


def test_i2v_33ch_matches_pipeline_and_drops_the_image_frames(concat_parts, concat_path):
    """The 33-channel release: the pipeline decodes the image's latent frame with the video and drops its 4
    frames, so 9 frames asked give 5; the latent keeps that frame for the decode."""
    shot = SHOT.but(guidance=1.0)
    assert concat_parts[0].family.variant == "hunyuanvideo-i2v-33ch"
    latent = graph(concat_parts, shot)
    assert latent["samples"].shape[2] == (F - 1) // 4 + 1 and latent["dv_lead_frames"] == 4
    assert latent["dv_num_frames"] == F - 4
    frames = decode(concat_parts, latent)
    assert frames.shape == (F - 4, H, W, 3)
    diff = assert_parity(frames, i2v_reference(concat_path, shot))
    print(f"HunyuanVideo-I2V-33ch parity max |diff| {diff:.3g}")


@pytest.mark.parametrize("true_cfg_scale", [None, 1.0], ids=["variant-default-6", "no-true-cfg"])
def test_skyreels_matches_pipeline(sky_parts, sky_path, true_cfg_scale):
    shot = SHOT.but(guidance=1.0)
    assert sky_parts[0].family.variant == "skyreels-v1-i2v"
    latent = graph(sky_parts, shot, true_cfg_scale=true_cfg_scale)
    frames = decode(sky_parts, latent)
    assert frames.shape == (F, H, W, 3)
    # Without the options node SkyReels runs with its pipeline's default true_cfg_scale of 6.
    diff = assert_parity(frames, skyreels_reference(sky_path, shot, true_cfg_scale or 6.0))
    print(f"SkyReels-V1 parity max |diff| {diff:.3g}")


def test_the_image_steers_the_video(i2v_parts, sky_parts):
    for model_parts in (i2v_parts, sky_parts):
        plain = graph(model_parts)["samples"]
        other = graph(model_parts, image=first_frame().flip(2))["samples"]
        assert (plain - other).abs().max() > 1e-4


def test_llava_prompt_is_encoded_with_the_image_at_sampling(i2v_parts):
    from diffusers_video.families.hunyuanvideo import LLAVA_KEY

    cond = encode_prompt(i2v_parts, SHOT)
    assert set(cond.embeds) == {"pooled_prompt_embeds", "negative_pooled_prompt_embeds", LLAVA_KEY}
    template = cond.embeds[LLAVA_KEY].template
    assert (template["image_emb_len"], template["image_emb_end"] - template["image_emb_start"]) == (16, 16)
    assert template["crop_start"] != 103  # llava-llama-3-8b's count only
    assert cond.embeds["pooled_prompt_embeds"].shape == (1, 8)


def test_separately_loaded_components_give_the_same_video(i2v_parts):
    from diffusers_video.nodes.loaders import DVModelLoader, DVTextEncoderLoader, DVVAELoader
    from diffusers_video.nodes.sampling import DVTextEncode

    name = "tiny-hunyuanvideo-i2v"
    with torch.inference_mode():
        (model,) = DVModelLoader().load(f"{name}/transformer", "fp32")
        (vae,) = DVVAELoader().load(f"{name}/vae", "fp32")
        (te,) = DVTextEncoderLoader().load(f"{name}/text_encoder", "fp32")
        (cond,) = DVTextEncode().encode(te, PROMPT, NEGATIVE, MAX_LEN, True)
    assert type(te.module).__name__ == "LlavaForConditionalGeneration" and model.family.variant == "hunyuanvideo-i2v"
    latent = graph((model, vae, te), cond=cond)
    assert torch.equal(latent["samples"], graph(i2v_parts)["samples"])


# ---------------------------------------------------------------------------------------------- bad input


def refused(model_parts, input_name: str, match: str, shot=SHOT, **kwargs) -> None:
    with pytest.raises(DVInputError, match=match) as info:
        graph(model_parts, shot, **kwargs)
    assert f"DVSampler: input '{input_name}'" in str(info.value)


@pytest.mark.parametrize("model", ["i2v", "sky"])
def test_missing_image_and_vae_refused(i2v_parts, sky_parts, model):
    model_parts = {"i2v": i2v_parts, "sky": sky_parts}[model]
    refused(model_parts, "image", "image-to-video model, and no image is wired in", image=None)
    refused(model_parts, "vae", "encodes the image with its VAE", vae=None)
    refused(model_parts, "video", "takes no video", video=first_frame().repeat(F, 1, 1, 1))


def test_wrong_frame_count_refused(i2v_parts, concat_parts):
    with pytest.raises(DVInputError) as info:
        graph(i2v_parts, SHOT.but(frames=8))
    message = str(info.value)
    assert "DVSampler: input 'num_frames'" in message and "5 or 9" in message and "4k+1" in message
    # The 33-channel release drops the image's 4 frames: 1 frame would leave none.
    with pytest.raises(DVInputError) as info:
        graph(concat_parts, SHOT.but(frames=1, guidance=1.0))
    assert "DVSampler: input 'num_frames'" in str(info.value) and "5" in str(info.value)


@pytest.mark.parametrize("width,height,bad", [(56, 48, "width"), (64, 40, "height")])
def test_size_must_be_multiple_of_16(sky_parts, width, height, bad):
    with pytest.raises(DVInputError) as info:
        graph(sky_parts, SHOT.but(width=width, height=height))
    assert f"DVSampler: input '{bad}'" in str(info.value) and "multiples of 16" in str(info.value)


def test_text_model_given_an_image_refused(parts):
    refused(parts, "image", "text-to-video model; it cannot start from an image")


def test_conditioning_of_the_other_text_encoder_refused(i2v_parts, sky_parts):
    llama_cond = encode_prompt(sky_parts, SHOT)
    llava_cond = encode_prompt(i2v_parts, SHOT)
    refused(i2v_parts, "conditioning", "text-only Llama", cond=llama_cond)
    refused(sky_parts, "conditioning", "Llava text encoder", cond=llava_cond)


def test_vae_of_another_family_refused(i2v_parts, tiny_models_dir):
    from diffusers_video.nodes.loaders import DVPipelineLoader

    with torch.inference_mode():
        _, cog_vae, _, _ = DVPipelineLoader().load("tiny-cogvideox", "fp32")
    refused(i2v_parts, "vae", "AutoencoderKLHunyuanVideo", vae=cog_vae)


# ---------------------------------------------------------------------------------------------- FramePack

fp_path, fp_parts = tiny_model_fixtures("hunyuanvideo_framepack", "tiny-hunyuanvideo-framepack")
# 17 frames in windows of 3 latent frames (9 video frames): two sections, so their decoded overlap is blended.
FP_SHOT = SHOT.but(frames=17, guidance=9.0)


def last_frame() -> torch.Tensor:
    return first_frame().flip(1).roll(5, 2)


def framepack(parts, shot=FP_SHOT, **values) -> dict:
    options = Options().build(**{"latent_window_size": 3, **values})[0]
    return sample_latent(parts, shot, vae=parts[1], image=first_frame(), options=options)


def framepack_reference(path, shot=FP_SHOT, **kwargs):
    from diffusers import HunyuanVideoFramepackPipeline

    pipe = HunyuanVideoFramepackPipeline.from_pretrained(path)
    return reference_frames(pipe, shot, image=as_pil(first_frame())[0], prompt_template=t2v_template(pipe),
                            **{"latent_window_size": 3, **kwargs})


@pytest.mark.parametrize("values", [{}, {"sampling_type": "vanilla"}, {"last_image": True}, {"true_cfg_scale": 3.0}],
                         ids=["inverted", "vanilla", "last-image", "true-cfg"])
def test_framepack_matches_pipeline(fp_parts, fp_path, values):
    assert fp_parts[0].family.variant == "framepack"
    if values.get("last_image"):
        values = {**values, "last_image": last_frame()}
    latent = framepack(fp_parts, **values)
    frames = decode(fp_parts, latent)
    assert frames.shape[0] == latent["dv_num_frames"] >= FP_SHOT.frames and frames.shape[1:] == (H, W, 3)
    assert len(latent["dv_framepack"]["sections"]) == 2
    reference_values = dict(values)
    if "last_image" in values:
        reference_values["last_image"] = as_pil(last_frame())[0]
    diff = assert_parity(frames, framepack_reference(fp_path, **reference_values))
    print(f"FramePack {values.get('sampling_type', 'inverted')} parity max |diff| {diff:.3g}")


def test_framepack_last_image_steers_the_video(fp_parts):
    plain = framepack(fp_parts)["samples"]
    assert (framepack(fp_parts, last_image=last_frame())["samples"] - plain).abs().max() > 1e-4


def test_framepack_without_its_image_encoder_refused(fp_parts):
    from dataclasses import replace

    for role in ("image_encoder", "feature_extractor"):
        model = replace(fp_parts[0], companions={k: v for k, v in fp_parts[0].companions.items() if k != role})
        with pytest.raises(DVInputError, match=role) as info:
            framepack((model, *fp_parts[1:]))
        assert "DVSampler: input 'model'" in str(info.value) and "DVPipelineLoader" in str(info.value)


def test_framepack_bad_options_refused(fp_parts, i2v_parts):
    with pytest.raises(DVInputError) as info:
        framepack(fp_parts, sampling_type="vanilla", last_image=last_frame())
    assert "DVSampler: input 'last_image'" in str(info.value) and "inverted_anti_drifting" in str(info.value)
    with pytest.raises(DVInputError) as info:
        framepack(fp_parts, last_image=last_frame()[:, :32])
    assert "DVSampler: input 'last_image'" in str(info.value) and f"{W}x{H}" in str(info.value)
    with pytest.raises(DVInputError) as info:
        framepack(fp_parts, shot=FP_SHOT.but(width=56))
    assert "DVSampler: input 'width'" in str(info.value) and "multiples of 16" in str(info.value)
    # FramePack's options on another model would do nothing: refused by name.
    refused(i2v_parts, "last_image", "FramePack", options=Options().build(last_image=last_frame())[0])
    refused(i2v_parts, "options", "latent_window_size", options=Options().build(latent_window_size=3)[0])
    refused(fp_parts, "image", "no image is wired in", image=None, options=Options().build(latent_window_size=3)[0])
