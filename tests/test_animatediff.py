"""AnimateDiff: an SD1.5 model plus a motion adapter, against AnimateDiffPipeline as the guide builds it."""

from __future__ import annotations

import os

import pytest
import torch
from diffusers_video.errors import DVInputError
from diffusers_video.nodes.loaders import DVApplyMotionAdapter, DVMotionAdapterLoader, DVPipelineLoader
from diffusers_video.nodes.sampling import DVSampler, DVTextEncode
from parity import Shot, assert_parity, graph_frames, load_parts, reference_frames

PROMPT, NEGATIVE = "a golden fox runs through a forest", "low quality"
W, H, F, STEPS, SEED = 32, 32, 8, 3, 21
SHOT = Shot(W, H, F, STEPS, guidance=7.5, seed=SEED, prompt=PROMPT, negative=NEGATIVE, max_len=77)


@pytest.fixture(scope="module")
def paths(tiny_models_dir):
    from diffusers_video.tiny_models.cache import install_into_models_dir

    sd = install_into_models_dir(tiny_models_dir, "sd15", "tiny-sd15")
    adapter = install_into_models_dir(tiny_models_dir, "motion_adapter", "tiny-motion-adapter", "animatediff_models")
    return sd, adapter


@pytest.fixture(scope="module")
def parts(paths):
    model, vae, text_encoder, scheduler = load_parts("tiny-sd15")
    with torch.inference_mode():
        (adapter,) = DVMotionAdapterLoader().load("tiny-motion-adapter", "fp32")
        (motion_model,) = DVApplyMotionAdapter().apply(model, adapter)
    return model, motion_model, vae, text_encoder


def reference(paths, guidance=7.5):
    """The diffusers guide: AnimateDiffPipeline from the SD folder with the adapter, DDIM with its settings."""
    from diffusers import AnimateDiffPipeline, DDIMScheduler, MotionAdapter

    sd, adapter_path = paths
    pipe = AnimateDiffPipeline.from_pretrained(sd, motion_adapter=MotionAdapter.from_pretrained(adapter_path))
    pipe.scheduler = DDIMScheduler.from_pretrained(sd, subfolder="scheduler", clip_sample=False,
                                                   timestep_spacing="linspace", beta_schedule="linear",
                                                   steps_offset=1)
    return reference_frames(pipe, SHOT.but(guidance=guidance))


@pytest.mark.parametrize("guidance", [7.5, 1.0], ids=["cfg", "no-cfg"])
def test_graph_matches_the_guides_pipeline(parts, paths, guidance):
    _, model, vae, text_encoder = parts
    assert_parity(graph_frames((model, vae, text_encoder), SHOT.but(guidance=guidance)), reference(paths, guidance))


def test_applying_the_adapter_leaves_the_image_model_alone(parts):
    from diffusers import UNet2DConditionModel

    image_model, motion_model = parts[0], parts[1]
    assert isinstance(image_model.module, UNet2DConditionModel)
    assert motion_model.module is not image_model.module
    assert motion_model.scheduler.class_name == "DDIMScheduler"
    assert dict(motion_model.scheduler.config)["timestep_spacing"] == "linspace"


def test_image_model_without_adapter_is_refused(parts):
    image_model, _, _, text_encoder = parts
    with torch.inference_mode():
        (cond,) = DVTextEncode().encode(text_encoder, PROMPT, NEGATIVE, 77, True)
    with pytest.raises(DVInputError) as info:
        DVSampler().sample(image_model, W, H, F, 1, 7.5, 0, conditioning=cond)
    assert "DVSampler: input 'model'" in str(info.value) and "DVApplyMotionAdapter" in str(info.value)


def test_adapter_on_a_video_model_is_refused(parts, tiny_models_dir):
    with torch.inference_mode():
        cog, _, _, _ = DVPipelineLoader().load("tiny-cogvideox", "fp32")
        (adapter,) = DVMotionAdapterLoader().load("tiny-motion-adapter", "fp32")
        with pytest.raises(DVInputError) as info:
            DVApplyMotionAdapter().apply(cog, adapter)
    assert "DVApplyMotionAdapter: input 'model'" in str(info.value) and "CogVideoX" in str(info.value)


def test_too_many_frames_for_the_adapter(parts):
    _, model, _, text_encoder = parts
    with torch.inference_mode():
        (cond,) = DVTextEncode().encode(text_encoder, PROMPT, NEGATIVE, 77, True)
    with pytest.raises(DVInputError) as info:
        DVSampler().sample(model, W, H, 40, 1, 7.5, 0, conditioning=cond)
    assert "DVSampler: input 'num_frames'" in str(info.value) and "32" in str(info.value)


def test_motion_adapter_listing_and_missing_file(paths):
    assert "tiny-motion-adapter" in DVMotionAdapterLoader.INPUT_TYPES()["required"]["motion_adapter"][0]
    with pytest.raises(DVInputError) as info:
        DVMotionAdapterLoader().load("nope.safetensors", "fp32")
    assert "DVMotionAdapterLoader: input 'motion_adapter'" in str(info.value)


def test_sd_folder_is_found_for_its_vae(paths):
    from diffusers_video.nodes.loaders import DVVAELoader

    with torch.inference_mode():
        (vae,) = DVVAELoader().load(f"{os.path.basename(paths[0])}/vae", "fp32")
    assert vae.family.id == "animatediff"
