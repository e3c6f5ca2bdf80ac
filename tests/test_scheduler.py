"""DVScheduler's options: each reaches the diffusers scheduler config, and one a class does not take is refused."""

from __future__ import annotations

import os

import pytest
import torch
from diffusers_video.errors import DVInputError
from diffusers_video.model_loaders.components import DVSchedulerSpec
from diffusers_video.nodes.loaders import DVPipelineLoader
from diffusers_video.nodes.sampling import SCHEDULER_OPTIONS, DVSampler, DVScheduler, DVTextEncode

# The AnimateDiff guide's scheduler, on top of an SD1.5 scheduler config.
SD15_CONFIG = {"num_train_timesteps": 1000, "beta_start": 0.00085, "beta_end": 0.012,
               "beta_schedule": "scaled_linear", "clip_sample": True, "steps_offset": 0, "prediction_type": "epsilon"}


def test_animatediff_guide_ddim_recipe_reaches_the_config():
    (spec,) = DVScheduler().build("DDIM", "linspace", clip_sample="false", beta_schedule="linear", steps_offset=1)
    scheduler = spec.on_top_of(DVSchedulerSpec.from_config_dict("PNDMScheduler", SD15_CONFIG)).create()
    assert type(scheduler).__name__ == "DDIMScheduler"
    config = scheduler.config
    assert (config.clip_sample, config.timestep_spacing, config.beta_schedule, config.steps_offset) == (
        False, "linspace", "linear", 1)
    assert config.beta_start == 0.00085  # the model's own values stay


def test_from_model_and_zero_leave_the_models_values():
    (spec,) = DVScheduler().build("DPM++ 2M", "from model", **{w: ("from model" if c else 0)
                                                                 for w, (_, c, _) in SCHEDULER_OPTIONS.items()})
    assert spec.overrides == ()


def test_dpm_options():
    (spec,) = DVScheduler().build("DPM++ 2M", "trailing", use_karras_sigmas="true", algorithm_type="sde-dpmsolver++",
                                  solver_order=3)
    config = spec.on_top_of(DVSchedulerSpec.from_config_dict("DDIMScheduler", SD15_CONFIG)).create().config
    assert (config.use_karras_sigmas, config.algorithm_type, config.solver_order) == (True, "sde-dpmsolver++", 3)


def test_option_the_class_does_not_take_names_the_input_and_the_schedulers_that_do():
    with pytest.raises(DVInputError) as info:
        DVScheduler().build("DDIM", "from model", use_karras_sigmas="true")
    message = str(info.value)
    assert "DVScheduler" in message and "use_karras_sigmas" in message
    assert "DPM++ 2M" in message and "Euler" in message


def test_flow_shift_reaches_flowmatch_as_shift():
    (spec,) = DVScheduler().build("FlowMatch Euler", "from model", flow_shift=7.0)
    assert spec.create().config.shift == 7.0


def test_every_option_is_a_combo_list_or_number():
    optional = DVScheduler.INPUT_TYPES()["optional"]
    for widget in SCHEDULER_OPTIONS:
        kind = optional[widget][0]
        assert isinstance(kind, list) or kind in ("INT", "FLOAT"), widget


# ------------------------------------------------------------------------------------ on a real model


@pytest.fixture(scope="module")
def wan(tiny_models_dir):
    from diffusers_video.tiny_models.cache import install_into_models_dir

    path = install_into_models_dir(tiny_models_dir, "wan", "tiny-wan")
    with torch.inference_mode():
        return path, DVPipelineLoader().load(os.path.basename(path), "fp32")


def test_unipc_flow_shift_matches_the_pipeline_with_that_shift(wan):
    from diffusers import UniPCMultistepScheduler, WanPipeline

    path, (model, _, text_encoder, _) = wan
    W, H, F, STEPS, SEED = 32, 32, 5, 2, 3
    with torch.inference_mode():
        (cond,) = DVTextEncode().encode(text_encoder, "a boat", "", 512, True)
        (spec,) = DVScheduler().build("UniPC", "from model", flow_shift=5.0)
        (latent,) = DVSampler().sample(model, W, H, F, STEPS, 1.0, SEED, conditioning=cond, scheduler=spec)
        (default,) = DVSampler().sample(model, W, H, F, STEPS, 1.0, SEED, conditioning=cond)
    pipe = WanPipeline.from_pretrained(path)
    pipe.scheduler = UniPCMultistepScheduler.from_config(pipe.scheduler.config, flow_shift=5.0)
    reference = pipe(prompt="a boat", negative_prompt="", width=W, height=H, num_frames=F,
                     num_inference_steps=STEPS, guidance_scale=1.0, generator=torch.Generator("cpu").manual_seed(SEED),
                     output_type="latent").frames
    assert (latent["samples"] - reference).abs().max().item() <= 1e-5
    assert (latent["samples"] - default["samples"]).abs().max().item() > 1e-3  # the shift did something


def test_option_the_models_own_scheduler_does_not_take_is_refused_at_the_sampler(wan):
    _, (model, _, text_encoder, _) = wan
    (spec,) = DVScheduler().build("from model", "from model", clip_sample="false")  # Wan's UniPC has none
    with torch.inference_mode():
        (cond,) = DVTextEncode().encode(text_encoder, "a boat", "", 512, True)
        with pytest.raises(DVInputError, match="clip_sample"):
            DVSampler().sample(model, 32, 32, 5, 1, 1.0, 0, conditioning=cond, scheduler=spec)
