"""DVCheckpointLoader: an SD1.5 single-file checkpoint in the original layout gives the same AnimateDiff video
as the diffusers folder it was made from."""

from __future__ import annotations

import os

import pytest
import torch
from diffusers_video.errors import DVInputError
from diffusers_video.nodes.loaders import (
    DVApplyMotionAdapter,
    DVCheckpointLoader,
    DVMotionAdapterLoader,
    DVPipelineLoader,
)
from diffusers_video.nodes.sampling import DVSampler, DVTextEncode
from diffusers_video.nodes.vae import DVVAEDecode

CONFIG_FROM_HUB = "from Hugging Face (detected model)"


@pytest.fixture(scope="module")
def checkpoint(tiny_models_dir):
    from diffusers_video.tiny_models.cache import install_into_models_dir
    from diffusers_video.tiny_models.sd15_checkpoint import build_sd15_checkpoint

    sd = install_into_models_dir(tiny_models_dir, "sd15", "tiny-sd15")
    install_into_models_dir(tiny_models_dir, "motion_adapter", "tiny-motion-adapter", "animatediff_models")
    path = os.path.join(tiny_models_dir, "checkpoints", "tiny_sd15.safetensors")
    if not os.path.isfile(path):
        build_sd15_checkpoint(sd, path)
    return os.path.basename(path)


def animate(parts):
    model, vae, text_encoder, _ = parts
    with torch.inference_mode():
        (adapter,) = DVMotionAdapterLoader().load("tiny-motion-adapter", "fp32")
        (motion,) = DVApplyMotionAdapter().apply(model, adapter)
        (cond,) = DVTextEncode().encode(text_encoder, "a dog runs on the beach", "blurry", 77, True)
        (latent,) = DVSampler().sample(motion, 32, 32, 4, 2, 7.5, 5, conditioning=cond)
        return DVVAEDecode().decode(vae, latent, 0, "off", 0, 0.0)[0]


def test_checkpoint_animates_like_the_folder(checkpoint):
    assert checkpoint in DVCheckpointLoader.INPUT_TYPES()["required"]["ckpt_name"][0]
    with torch.inference_mode():
        from_file = DVCheckpointLoader().load(checkpoint, "fp32", "tiny-sd15")
        from_folder = DVPipelineLoader().load("tiny-sd15", "fp32")
    assert from_file[0].family.id == "animatediff"
    assert torch.equal(animate(from_file), animate(from_folder))


def test_a_checkpoint_of_another_model_is_refused(checkpoint, tiny_models_dir):
    from diffusers_video.tiny_models.cache import install_into_models_dir
    from diffusers_video.tiny_models.single_file import build_wan_original_checkpoint

    wan = install_into_models_dir(tiny_models_dir, "wan", "tiny-wan")
    target = os.path.join(tiny_models_dir, "checkpoints", "wan.safetensors")
    if not os.path.isfile(target):
        build_wan_original_checkpoint(wan, target)
    with pytest.raises(DVInputError, match="not a Stable Diffusion 1.5 checkpoint") as info:
        DVCheckpointLoader().load("wan.safetensors", "fp32", "tiny-sd15")
    assert "ckpt_name" in str(info.value) and "wan" in str(info.value)


def test_config_of_another_family_is_refused(checkpoint):
    with pytest.raises(DVInputError, match="not a Stable Diffusion 1.5 folder") as info:
        DVCheckpointLoader().load(checkpoint, "fp32", "tiny-cogvideox")
    assert "config" in str(info.value)


def test_hub_config_offline_says_what_to_pick(checkpoint, monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(DVInputError, match="SD1.5 diffusers folder in 'config'"):
        DVCheckpointLoader().load(checkpoint, "fp32", CONFIG_FROM_HUB)


def test_missing_checkpoint_is_named(checkpoint, tiny_models_dir):
    with pytest.raises(DVInputError, match="not found in the checkpoints folder") as info:
        DVCheckpointLoader().load("nope.safetensors", "fp32", "tiny-sd15")
    assert os.path.join(tiny_models_dir, "checkpoints") in str(info.value)
