"""Single-file models in ComfyUI's diffusion_models/ folder: detected from their tensors by diffusers, loaded
with from_single_file, and equal to the diffusers folder they came from."""

from __future__ import annotations

import os
import time

import pytest
import torch
from diffusers_video.errors import DVInputError
from diffusers_video.nodes.loaders import DVModelLoader, DVPipelineLoader, DVVAELoader
from diffusers_video.nodes.sampling import DVSampler, DVTextEncode

CONFIG_FROM_HUB = "from Hugging Face (detected model)"


@pytest.fixture(scope="module")
def wan_file(tiny_models_dir):
    from diffusers_video.tiny_models.cache import install_into_models_dir
    from diffusers_video.tiny_models.single_file import build_wan_original_checkpoint

    folder = install_into_models_dir(tiny_models_dir, "wan", "tiny-wan")
    path = os.path.join(tiny_models_dir, "diffusion_models", "wan2.1_tiny.safetensors")
    if not os.path.isfile(path):
        build_wan_original_checkpoint(folder, path)
    return os.path.basename(path)


def test_single_file_is_listed_beside_the_folders(wan_file):
    choices = DVModelLoader.INPUT_TYPES()["required"]["model"][0]
    assert wan_file in choices and "tiny-wan/transformer" in choices
    assert "tiny-wan" in DVModelLoader.INPUT_TYPES()["optional"]["config"][0]


def test_original_wan_checkpoint_loads_as_the_folders_transformer(wan_file):
    with torch.inference_mode():
        from_folder, _, text_encoder, _ = DVPipelineLoader().load("tiny-wan", "fp32")
        (from_file,) = DVModelLoader().load(wan_file, "fp32", "tiny-wan")
    assert from_file.family.id == "wan" and type(from_file.module).__name__ == "WanTransformer3DModel"
    # the config folder's scheduler comes along
    def public(spec):
        return {k: v for k, v in spec.create().config.items() if not k.startswith("_")}

    assert public(from_file.scheduler) == public(from_folder.scheduler)
    reference = from_folder.module.state_dict()
    loaded = from_file.module.state_dict()
    assert set(loaded) == set(reference)
    assert all(torch.equal(loaded[k], reference[k]) for k in reference)
    with torch.inference_mode():
        (cond,) = DVTextEncode().encode(text_encoder, "a lighthouse", "", 512, True)
        a = DVSampler().sample(from_file, 32, 32, 5, 2, 1.0, 1, conditioning=cond)[0]["samples"]
        b = DVSampler().sample(from_folder, 32, 32, 5, 2, 1.0, 1, conditioning=cond)[0]["samples"]
    assert torch.equal(a, b)


def test_file_diffusers_cannot_identify_is_refused_with_what_is_readable(tiny_models_dir, wan_file):
    from safetensors.torch import save_file

    path = os.path.join(tiny_models_dir, "diffusion_models", "mystery.safetensors")
    save_file({"some.layer.weight": torch.zeros(2, 2)}, path)
    with pytest.raises(DVInputError) as info:
        DVModelLoader().load("mystery.safetensors", "fp32", "tiny-wan")
    message = str(info.value)
    assert "DVModelLoader" in message and "model" in message and "Wan" in message


def test_truncated_file_is_refused(tiny_models_dir, wan_file):
    path = os.path.join(tiny_models_dir, "diffusion_models", "broken.safetensors")
    with open(path, "wb") as f:
        f.write(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json")
    with pytest.raises(DVInputError, match="not a readable .safetensors"):
        DVModelLoader().load("broken.safetensors", "fp32", "tiny-wan")


def test_config_folder_of_another_family_is_refused(wan_file):
    with pytest.raises(DVInputError) as info:
        DVModelLoader().load(wan_file, "fp32", "tiny-cogvideox")
    message = str(info.value)
    assert "config" in message and "CogVideoX" in message and "a Wan file" in message


def test_hub_config_unreachable_says_to_pick_a_local_folder(wan_file, monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)  # no network here anyway; fail fast
    started = time.monotonic()
    with pytest.raises(DVInputError, match="local diffusers folder") as info:
        DVModelLoader().load(wan_file, "fp32", CONFIG_FROM_HUB)
    assert "DVModelLoader" in str(info.value)
    assert time.monotonic() - started < 60


def test_vae_folder_file_that_is_not_a_vae_is_refused(tiny_models_dir, wan_file):
    import shutil

    os.makedirs(os.path.join(tiny_models_dir, "vae"), exist_ok=True)
    shutil.copy(os.path.join(tiny_models_dir, "diffusion_models", wan_file),
                os.path.join(tiny_models_dir, "vae", "not_a_vae.safetensors"))
    with pytest.raises(DVInputError, match="cannot tell which VAE") as info:
        DVVAELoader().load("not_a_vae.safetensors", "fp32", "tiny-wan")
    assert "DVVAELoader" in str(info.value)
