"""ControlNet video, InstructPix2Pix video edits and Text2Video-Zero on a tiny SD1.5: the node graph against
the diffusers guide's recipes (CrossFrameAttnProcessor on UNet and ControlNet, shared starting latents)."""

from __future__ import annotations

import os

import pytest
import torch
from diffusers_video.errors import DVInputError
from diffusers_video.nodes.controlnet import (
    DVApplyControlNet,
    DVControlNetLoader,
    DVCrossFrameAttention,
    DVInstructPix2PixOptions,
    DVText2VideoZeroOptions,
)
from diffusers_video.nodes.loaders import DVPipelineLoader
from diffusers_video.nodes.sampling import DVSampler, DVTextEncode
from diffusers_video.nodes.vae import DVVAEDecode
from parity import as_pil

PROMPT, NEGATIVE = "an astronaut dancing on the moon", "blurry"
W, H, F, STEPS, SEED = 32, 32, 4, 3, 5
PARITY_TOLERANCE = 1e-5  # fp32 CPU; measured 0.0 (same modules, same processors, same latents)


def cross_frame(batch_size):
    from diffusers.pipelines.deprecated.text_to_video_synthesis.pipeline_text_to_video_zero import (
        CrossFrameAttnProcessor,
    )

    return CrossFrameAttnProcessor(batch_size=batch_size)


@pytest.fixture(scope="module")
def paths(tiny_models_dir):
    from diffusers_video.tiny_models.cache import install_into_models_dir

    return {
        "sd": install_into_models_dir(tiny_models_dir, "sd15", "tiny-sd15"),
        "pix2pix": install_into_models_dir(tiny_models_dir, "pix2pix", "tiny-pix2pix"),
        "controlnet": install_into_models_dir(tiny_models_dir, "controlnet", "tiny-controlnet", "controlnet"),
    }


@pytest.fixture(scope="module")
def sd(paths):
    with torch.inference_mode():
        return DVPipelineLoader().load("tiny-sd15", "fp32")


@pytest.fixture(scope="module")
def control_frames():
    # 8-bit values, as frames loaded from files are (the pipelines take them as PIL images).
    return (torch.rand((F, H, W, 3), generator=torch.Generator().manual_seed(1)) * 255).round() / 255


def encode(text_encoder, negative=NEGATIVE):
    return DVTextEncode().encode(text_encoder, PROMPT, negative, 77, True)[0]


def controlnet_graph(sd, control_frames, use_cross_frame=True, guidance=7.5, strength=0.8):
    model, vae, text_encoder, _ = sd
    with torch.inference_mode():
        (controlnet,) = DVControlNetLoader().load("tiny-controlnet", "fp32")
        (control,) = DVApplyControlNet().apply(controlnet, control_frames, strength)
        if use_cross_frame:
            model, control = DVCrossFrameAttention().apply(model, control)
        (latent,) = DVSampler().sample(model, W, H, F, STEPS, guidance, SEED, conditioning=encode(text_encoder),
                                       control=control)
        return DVVAEDecode().decode(vae, latent, 0, "off", 0, 0.0)[0]


@pytest.mark.parametrize("guidance", [7.5, 1.0], ids=["cfg", "no-cfg"])
def test_controlnet_video_matches_the_guides_recipe(sd, paths, control_frames, guidance):
    from diffusers import ControlNetModel, StableDiffusionControlNetPipeline

    frames = controlnet_graph(sd, control_frames, guidance=guidance)
    pipe = StableDiffusionControlNetPipeline.from_pretrained(
        paths["sd"], controlnet=ControlNetModel.from_pretrained(paths["controlnet"]), safety_checker=None,
        requires_safety_checker=False)
    batch = 2 if guidance > 1 else 1
    pipe.unet.set_attn_processor(cross_frame(batch))
    pipe.controlnet.set_attn_processor(cross_frame(batch))
    latents = torch.randn((1, 4, H // 2, W // 2), generator=torch.Generator().manual_seed(SEED)).repeat(F, 1, 1, 1)
    reference = pipe(prompt=[PROMPT] * F, negative_prompt=[NEGATIVE] * F, image=as_pil(control_frames),
                     latents=latents, height=H, width=W, num_inference_steps=STEPS, guidance_scale=guidance,
                     controlnet_conditioning_scale=0.8, generator=torch.Generator().manual_seed(SEED),
                     output_type="np").images
    assert frames.shape == (F, H, W, 3)
    assert (frames - torch.from_numpy(reference)).abs().max().item() <= PARITY_TOLERANCE


def test_cross_frame_attention_changes_the_frames_and_is_undone(sd, control_frames):
    model = sd[0]
    before = {name: type(proc) for name, proc in model.module.attn_processors.items()}
    plain = controlnet_graph(sd, control_frames, use_cross_frame=False)
    crossed = controlnet_graph(sd, control_frames, use_cross_frame=True)
    # Frame 0 attends to itself either way; the others now attend to frame 0 instead. (The tiny random
    # UNet's attention moves pixels little: ~2e-4 against a float noise floor of ~1e-7.)
    assert (plain[0] - crossed[0]).abs().max().item() <= 1e-6
    assert (plain[1:] - crossed[1:]).abs().max().item() > 1e-5
    assert {name: type(proc) for name, proc in model.module.attn_processors.items()} == before
    assert torch.equal(controlnet_graph(sd, control_frames, use_cross_frame=False), plain)


@pytest.mark.parametrize("use_cross_frame", [True, False], ids=["cross-frame", "independent"])
def test_pix2pix_video_edit_matches_the_guides_recipe(paths, control_frames, use_cross_frame):
    from diffusers import StableDiffusionInstructPix2PixPipeline

    video = control_frames  # any frames to edit
    with torch.inference_mode():
        model, vae, text_encoder, _ = DVPipelineLoader().load("tiny-pix2pix", "fp32")
        if use_cross_frame:
            model, _ = DVCrossFrameAttention().apply(model)
        (options,) = DVInstructPix2PixOptions().build(1.5)
        (latent,) = DVSampler().sample(model, W, H, F, STEPS, 7.5, SEED, conditioning=encode(text_encoder),
                                       vae=vae, video=video, options=options)
        frames = DVVAEDecode().decode(vae, latent, 0, "off", 0, 0.0)[0]
    pipe = StableDiffusionInstructPix2PixPipeline.from_pretrained(paths["pix2pix"], safety_checker=None,
                                                                  requires_safety_checker=False)
    if use_cross_frame:
        pipe.unet.set_attn_processor(cross_frame(3))
    reference = pipe(prompt=[PROMPT] * F, negative_prompt=[NEGATIVE] * F, image=as_pil(video),
                     num_inference_steps=STEPS, guidance_scale=7.5, image_guidance_scale=1.5,
                     generator=torch.Generator().manual_seed(SEED), output_type="np").images
    assert (frames - torch.from_numpy(reference)).abs().max().item() <= PARITY_TOLERANCE


def test_text2video_zero_matches_its_pipeline(sd, paths):
    from diffusers import TextToVideoZeroPipeline

    model, vae, text_encoder, _ = sd
    steps, t0, t1 = 5, 1, 2
    with torch.inference_mode():
        (options,) = DVText2VideoZeroOptions().build(4.0, 2.0, t0, t1)
        (latent,) = DVSampler().sample(model, W, H, F, steps, 7.5, SEED, conditioning=encode(text_encoder),
                                       options=options)
        frames = DVVAEDecode().decode(vae, latent, 0, "off", 0, 0.0)[0]
    pipe = TextToVideoZeroPipeline.from_pretrained(paths["sd"], safety_checker=None, feature_extractor=None,
                                                   requires_safety_checker=False)
    reference = pipe(prompt=PROMPT, negative_prompt=NEGATIVE, video_length=F, height=H, width=W,
                     num_inference_steps=steps, guidance_scale=7.5, motion_field_strength_x=4.0,
                     motion_field_strength_y=2.0, t0=t0, t1=t1, generator=torch.Generator().manual_seed(SEED),
                     output_type="np").images
    assert frames.shape == (F, H, W, 3)
    assert (frames - torch.from_numpy(reference)).abs().max().item() <= PARITY_TOLERANCE
    assert (frames[1:] - frames[:1]).abs().max() > 1e-3  # the motion field moved the later frames


# ------------------------------------------------------------------------------------------ bad input


def test_control_frame_count_must_match_num_frames(sd, control_frames):
    model, _, text_encoder, _ = sd
    with torch.inference_mode():
        (controlnet,) = DVControlNetLoader().load("tiny-controlnet", "fp32")
        (control,) = DVApplyControlNet().apply(controlnet, control_frames[:3], 1.0)
        with pytest.raises(DVInputError) as info:
            DVSampler().sample(model, W, H, F, STEPS, 7.5, SEED, conditioning=encode(text_encoder), control=control)
    message = str(info.value)
    assert "DVSampler" in message and "num_frames" in message and "3 frames" in message and f"is {F}" in message


def test_controlnet_on_a_non_unet_family_is_refused(tiny_models_dir, control_frames, paths):
    from diffusers_video.tiny_models.cache import install_into_models_dir

    install_into_models_dir(tiny_models_dir, "wan", "tiny-wan")
    with torch.inference_mode():
        wan, _, wan_te, _ = DVPipelineLoader().load("tiny-wan", "fp32")
        (controlnet,) = DVControlNetLoader().load("tiny-controlnet", "fp32")
        (control,) = DVApplyControlNet().apply(controlnet, control_frames, 1.0)
        (cond,) = DVTextEncode().encode(wan_te, PROMPT, "", 512, True)
        with pytest.raises(DVInputError, match="ControlNet guides a Stable Diffusion 1.5 UNet") as info:
            DVSampler().sample(wan, W, H, 5, STEPS, 5.0, SEED, conditioning=cond, control=control)
        assert "control" in str(info.value)
        with pytest.raises(DVInputError, match="DVCrossFrameAttention"):
            DVCrossFrameAttention().apply(wan)


def test_text2video_zero_steps_must_fit_t0_t1(sd):
    model, _, text_encoder, _ = sd
    with torch.inference_mode():
        (options,) = DVText2VideoZeroOptions().build(12.0, 12.0, 44, 47)
        with pytest.raises(DVInputError, match="t0=44 and t1=47 do not fit 5 steps"):
            DVSampler().sample(model, W, H, F, 5, 7.5, SEED, conditioning=encode(text_encoder), options=options)


def test_pix2pix_needs_the_video_at_its_size(paths, control_frames):
    with torch.inference_mode():
        model, vae, text_encoder, _ = DVPipelineLoader().load("tiny-pix2pix", "fp32")
        cond = encode(text_encoder)
        with pytest.raises(DVInputError, match="edits a video"):
            DVSampler().sample(model, W, H, F, STEPS, 7.5, SEED, conditioning=cond, vae=vae)
        with pytest.raises(DVInputError, match="the video is 32x32, but width x height is 48x32"):
            DVSampler().sample(model, 48, H, F, STEPS, 7.5, SEED, conditioning=cond, vae=vae, video=control_frames)


def test_image_model_with_nothing_to_make_video_says_what_would(sd):
    model, _, text_encoder, _ = sd
    with torch.inference_mode(), pytest.raises(DVInputError, match="DVText2VideoZeroOptions"):
        DVSampler().sample(model, W, H, F, STEPS, 7.5, SEED, conditioning=encode(text_encoder))


def test_controlnet_folder_listing_and_missing(paths):
    assert "tiny-controlnet" in DVControlNetLoader.INPUT_TYPES()["required"]["controlnet"][0]
    with pytest.raises(DVInputError, match="not found in the controlnet folder"):
        DVControlNetLoader().load("no-such-controlnet", "fp32")
    assert os.path.isdir(paths["controlnet"])
