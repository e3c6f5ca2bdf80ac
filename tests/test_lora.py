"""DVLoraLoader: LoRAs on the DiT/UNet match the pipeline's load_lora_weights/set_adapters, stack, and never
change the loaded model for other branches."""

from __future__ import annotations

import os

import pytest
import torch
from diffusers_video.errors import DVInputError
from diffusers_video.nodes.loaders import DVApplyMotionAdapter, DVLoraLoader, DVMotionAdapterLoader, DVPipelineLoader
from diffusers_video.nodes.sampling import DVSampler, DVTextEncode

PROMPT = "a red kite over the sea"
W, H, F, STEPS, SEED = 32, 32, 5, 2, 4
PARITY_TOLERANCE = 1e-5  # fp32 CPU; measured 0.0: the same peft layers at the same scales


@pytest.fixture(scope="module")
def wan(tiny_models_dir):
    from diffusers_video.tiny_models.cache import install_into_models_dir
    from diffusers_video.tiny_models.lora import build_lora

    path = install_into_models_dir(tiny_models_dir, "wan", "tiny-wan")
    loras = os.path.join(tiny_models_dir, "loras")
    build_lora(path, os.path.join(loras, "wan_a.safetensors"), seed=1)
    build_lora(path, os.path.join(loras, "wan_b.safetensors"), seed=2)
    with torch.inference_mode():
        return path, DVPipelineLoader().load("tiny-wan", "fp32")


def sample(model, text_encoder, guidance=1.0):
    with torch.inference_mode():
        (cond,) = DVTextEncode().encode(text_encoder, PROMPT, "", 512, True)
        (latent,) = DVSampler().sample(model, W, H, F, STEPS, guidance, SEED, conditioning=cond)
    return latent["samples"]


def wan_reference(path, tiny_models_dir, adapters: dict[str, float]):
    from diffusers import WanPipeline

    pipe = WanPipeline.from_pretrained(path)
    for name in adapters:
        pipe.load_lora_weights(os.path.join(tiny_models_dir, "loras"), weight_name=f"{name}.safetensors",
                               adapter_name=name)
    pipe.set_adapters(list(adapters), list(adapters.values()))
    return pipe(prompt=PROMPT, negative_prompt="", width=W, height=H, num_frames=F, num_inference_steps=STEPS,
                guidance_scale=1.0, generator=torch.Generator("cpu").manual_seed(SEED), output_type="latent").frames


def test_one_lora_matches_the_pipeline_and_leaves_the_model_alone(wan, tiny_models_dir):
    path, (model, _, text_encoder, _) = wan
    before = sample(model, text_encoder)
    with torch.inference_mode():
        (with_a,) = DVLoraLoader().load(model, "wan_a.safetensors", 0.7)
    assert with_a is not model and model.loras == ()
    lora_out = sample(with_a, text_encoder)
    assert (lora_out - wan_reference(path, tiny_models_dir, {"wan_a": 0.7})).abs().max().item() <= PARITY_TOLERANCE
    assert (lora_out - before).abs().max().item() > 1e-3  # the LoRA does something
    assert torch.equal(sample(model, text_encoder), before)  # and is off again for the plain model


def test_loras_stack(wan, tiny_models_dir):
    path, (model, _, text_encoder, _) = wan
    with torch.inference_mode():
        (with_a,) = DVLoraLoader().load(model, "wan_a.safetensors", 0.7)
        (with_ab,) = DVLoraLoader().load(with_a, "wan_b.safetensors", -0.5)
    assert [lora.label for lora in with_ab.loras] == ["wan_a.safetensors", "wan_b.safetensors"]
    stacked = sample(with_ab, text_encoder)
    reference = wan_reference(path, tiny_models_dir, {"wan_a": 0.7, "wan_b": -0.5})
    assert (stacked - reference).abs().max().item() <= PARITY_TOLERANCE


def test_strength_zero_is_the_plain_model(wan):
    _, (model, _, text_encoder, _) = wan
    with torch.inference_mode():
        (off,) = DVLoraLoader().load(model, "wan_a.safetensors", 0.0)
    assert (sample(off, text_encoder) - sample(model, text_encoder)).abs().max().item() <= 1e-6


def test_lora_of_another_model_is_refused_naming_it(wan, tiny_models_dir):
    from diffusers_video.tiny_models.lora import build_lora

    _, (model, _, text_encoder, _) = wan
    build_lora(os.path.join(tiny_models_dir, "diffusers", "tiny-cogvideox"),
               os.path.join(tiny_models_dir, "loras", "cogvideox.safetensors"))
    with pytest.raises(DVInputError, match="cogvideox.safetensors' is for another model") as info:
        DVLoraLoader().load(model, "cogvideox.safetensors", 1.0)
    assert "DVLoraLoader" in str(info.value) and "lora" in str(info.value)


def test_lora_whose_shapes_do_not_fit_is_refused_by_the_loader_and_the_sampler(wan, tiny_models_dir, monkeypatch):
    from diffusers_video.model_loaders import lora as lora_util
    from diffusers_video.tiny_models.lora import build_lora

    path, (model, _, text_encoder, _) = wan
    before = sample(model, text_encoder)
    # Same layer names as Wan, other sizes: a Wan of another width.
    wide = os.path.join(tiny_models_dir, "wide-wan")
    if not os.path.isdir(wide):
        from diffusers import WanPipeline, WanTransformer3DModel

        pipe = WanPipeline.from_pretrained(path)
        config = dict(pipe.transformer.config)
        config["attention_head_dim"] = 16
        pipe.transformer = WanTransformer3DModel.from_config(config)
        pipe.save_pretrained(wide)
    build_lora(wide, os.path.join(tiny_models_dir, "loras", "wide.safetensors"))
    with pytest.raises(DVInputError, match="does not fit .* has inputs 32, the model's 24") as info:
        DVLoraLoader().load(model, "wide.safetensors", 1.0)
    assert "DVLoraLoader: input 'lora'" in str(info.value)
    # Past the loader's shape check (a layer it cannot see), the sampler refuses it too, and cleanly.
    monkeypatch.setattr(lora_util, "_check_fits", lambda *args: None)
    with torch.inference_mode():
        (wrong,) = DVLoraLoader().load(model, "wide.safetensors", 1.0)
    for _ in range(2):  # the same message the second time: nothing half-loaded is reused
        with pytest.raises(DVInputError, match="does not fit") as info:
            sample(wrong, text_encoder)
        assert "DVSampler" in str(info.value) and "wide.safetensors" in str(info.value)
    assert torch.equal(sample(model, text_encoder), before)


def test_missing_and_pickled_files_are_refused(wan):
    _, (model, _, _, _) = wan
    with pytest.raises(DVInputError, match="not found in the loras folder"):
        DVLoraLoader().load(model, "nowhere.safetensors", 1.0)
    with pytest.raises(DVInputError, match=r"not a \.safetensors"):
        DVLoraLoader().load(model, "old.ckpt", 1.0)


def test_lora_combo_lists_the_loras_folder(wan):
    assert "wan_a.safetensors" in DVLoraLoader.INPUT_TYPES()["required"]["lora"][0]


def test_family_without_lora_support_is_refused(tiny_models_dir):
    from diffusers_video.tiny_models.cache import install_into_models_dir

    install_into_models_dir(tiny_models_dir, "svd", "tiny-svd")
    with torch.inference_mode():
        model = DVPipelineLoader().load("tiny-svd", "fp32")[0]
    with pytest.raises(DVInputError, match="no LoRA support for Stable Video Diffusion"):
        DVLoraLoader().load(model, "wan_a.safetensors", 1.0)


def test_animatediff_unet_lora_matches_the_pipeline(tiny_models_dir):
    from diffusers import AnimateDiffPipeline, DDIMScheduler, MotionAdapter
    from diffusers_video.tiny_models.cache import install_into_models_dir
    from diffusers_video.tiny_models.lora import build_lora

    sd = install_into_models_dir(tiny_models_dir, "sd15", "tiny-sd15")
    adapter_path = install_into_models_dir(tiny_models_dir, "motion_adapter", "tiny-motion-adapter",
                                           "animatediff_models")
    build_lora(sd, os.path.join(tiny_models_dir, "loras", "sd15.safetensors"), subfolder="unet")
    with torch.inference_mode():
        model, _, text_encoder, _ = DVPipelineLoader().load("tiny-sd15", "fp32")
        (adapter,) = DVMotionAdapterLoader().load("tiny-motion-adapter", "fp32")
        (with_lora,) = DVLoraLoader().load(model, "sd15.safetensors", 0.8)
        (motion,) = DVApplyMotionAdapter().apply(with_lora, adapter)
        (cond,) = DVTextEncode().encode(text_encoder, PROMPT, "", 77, True)
        (latent,) = DVSampler().sample(motion, W, H, 4, STEPS, 1.0, SEED, conditioning=cond)

    pipe = AnimateDiffPipeline.from_pretrained(sd, motion_adapter=MotionAdapter.from_pretrained(adapter_path))
    pipe.scheduler = DDIMScheduler.from_pretrained(sd, subfolder="scheduler", clip_sample=False,
                                                   timestep_spacing="linspace", beta_schedule="linear",
                                                   steps_offset=1)
    pipe.load_lora_weights(os.path.join(tiny_models_dir, "loras"), weight_name="sd15.safetensors", adapter_name="x")
    pipe.set_adapters(["x"], [0.8])
    reference = pipe(prompt=PROMPT, negative_prompt="", width=W, height=H, num_frames=4, num_inference_steps=STEPS,
                     guidance_scale=1.0, generator=torch.Generator("cpu").manual_seed(SEED),
                     output_type="latent").frames
    assert (latent["samples"] - reference).abs().max().item() <= PARITY_TOLERANCE
