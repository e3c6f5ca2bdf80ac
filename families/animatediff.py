"""AnimateDiff: a motion adapter that turns any Stable Diffusion 1.5 UNet into a video model.

AnimateDiff glue: AnimateDiffPipeline on an SD1.5 UNet with a motion adapter applied."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from .. import host
from ..errors import DVInputError
from ..model_loaders.components import DVVAE, DVConditioning, DVModel, DVSchedulerSpec, DVTextEncoder
from ..samplers import decode as decode_util
from ..samplers.clip_text import encode_with_pipeline
from ..samplers.pipeline import SampleInputs, SampleParams, assemble, run_denoise
from ..samplers.validate import check_common, require_conditioning
from .spec import Family, FrameRule, LatentGeometry

FAMILY = Family(
    id="animatediff",
    label="AnimateDiff",
    # A plain SD1.5 folder is detected as this family too: it becomes a video model once a motion adapter
    # is applied (DVApplyMotionAdapter), or makes video frame by frame with cross-frame attention
    # (Text2Video-Zero: a ControlNet, InstructPix2Pix, or the motion-field text-to-video pipeline).
    pipeline_classes={"t2v": "AnimateDiffPipeline", "sd15": "StableDiffusionPipeline",
                      "controlnet": "StableDiffusionControlNetPipeline",
                      "pix2pix": "StableDiffusionInstructPix2PixPipeline", "t2v_zero": "TextToVideoZeroPipeline"},
    model_classes=("UNetMotionModel", "UNet2DConditionModel"),
    vae_classes=("AutoencoderKL",),
    text_encoder_classes=("CLIPTextModel",),
    frame_rule=FrameRule(multiple=1, offset=0, minimum=1),
    size_multiple=8,
    geometry=LatentGeometry(spatial=8, temporal=1, channels=4, scaling_factor=0.18215),
    order=60,
    takes_control=True,
    comfy_latent_format="SD15",
    defaults={"num_frames": 16, "fps": 8, "steps": 50, "guidance_scale": 7.5, "width": 512, "height": 512},
    # Every component in fp16 (motion adapter, ControlNet and SD1.5 checkpoint too), as diffusers' AnimateDiff
    # guide (api/pipelines/animatediff.md) loads them: `MotionAdapter.from_pretrained("guoyww/animatediff-motion-
    # adapter-v1-5-2", dtype=torch.float16)`, `AnimateDiffPipeline.from_pretrained(model_id, motion_adapter=adapter,
    # dtype=torch.float16)`; its Text2Video-Zero and ControlNet recipes likewise (`torch_dtype=torch.float16`).
    component_dtypes={"*": "fp16"},
)

# The diffusers guide's scheduler for AnimateDiff: DDIM on SD1.5's betas, linear schedule, linspace steps.
GUIDE_SCHEDULER_SETTINGS = {"clip_sample": False, "timestep_spacing": "linspace", "beta_schedule": "linear",
                            "steps_offset": 1}
DEFAULT_SCHEDULER = DVSchedulerSpec.from_config_dict(
    "DDIMScheduler",
    {"beta_start": 0.00085, "beta_end": 0.012, "num_train_timesteps": 1000, "set_alpha_to_one": False,
     **GUIDE_SCHEDULER_SETTINGS},
    "AnimateDiff guide default",
)
DECODE_CHUNK = 16  # AnimateDiffPipeline's own decode_chunk_size


def guide_scheduler(base: DVSchedulerSpec | None) -> DVSchedulerSpec:
    """DDIM with the guide's settings on top of the SD model's own scheduler config."""
    if base is None:
        return DEFAULT_SCHEDULER
    config = {**base.config_dict(), **GUIDE_SCHEDULER_SETTINGS}
    return DVSchedulerSpec.from_config_dict("DDIMScheduler", config, f"{base.source} (AnimateDiff DDIM)")


def apply_motion_adapter(model: DVModel, adapter) -> DVModel:
    """An SD1.5 UNet plus a motion adapter -> the UNetMotionModel AnimateDiffPipeline would build."""
    from diffusers import UNet2DConditionModel, UNetMotionModel

    unet = model.module
    if isinstance(unet, UNetMotionModel):
        raise DVInputError("model", "this model already has a motion adapter.", "an SD1.5 model.")
    if not isinstance(unet, UNet2DConditionModel) or model.family.id != FAMILY.id:
        raise DVInputError("model", f"'{model.source}' is a {model.family.label} model; a motion adapter "
                           "goes on a Stable Diffusion 1.5 UNet.", "an SD1.5 diffusers folder from DVPipelineLoader.")
    adapter_blocks = tuple(adapter.config.block_out_channels)
    if tuple(unet.config.block_out_channels) != adapter_blocks:
        raise DVInputError("motion_adapter", f"the adapter is for UNets with blocks {adapter_blocks}, this "
                           f"UNet has {tuple(unet.config.block_out_channels)} (not SD1.5?).",
                           "an SD1.5 motion adapter (e.g. animatediff-motion-adapter-v1-5-2).")
    motion_unet = UNetMotionModel.from_unet2d(unet, adapter).to(dtype=model.managed.dtype).eval()
    # Everything wired onto the image model before (LoRAs: the UNet layers keep their names; offload,
    # compile) carries over to the motion model.
    return replace(model, managed=host.ManagedModule(motion_unet, f"{model.source}+motion"), family=FAMILY,
                   scheduler=guide_scheduler(model.scheduler), companions=dict(model.companions))


def _pipeline(**components: Any):
    from diffusers import AnimateDiffPipeline

    return assemble(AnimateDiffPipeline, **components)


def encode(te: DVTextEncoder, prompt: str, negative_prompt: str, max_sequence_length: int,
           truncate: bool) -> DVConditioning:
    return encode_with_pipeline(FAMILY, _pipeline, te, prompt, negative_prompt, truncate)


def sample(model: DVModel, scheduler: DVSchedulerSpec, params: SampleParams,
           inputs: SampleInputs) -> dict[str, Any]:
    from diffusers import UNetMotionModel

    if not isinstance(model.module, UNetMotionModel):
        from . import text2video_zero

        mode = text2video_zero.mode_for(model, inputs)
        if mode is None:
            raise DVInputError("model", f"'{model.source}' is a Stable Diffusion image model without motion.",
                               "apply a motion adapter first (DVMotionAdapterLoader -> DVApplyMotionAdapter), or "
                               "make video frame by frame: a ControlNet (DVApplyControlNet into 'control') or "
                               "DVText2VideoZeroOptions into 'options'.")
        return text2video_zero.sample(mode, model, scheduler, params, inputs)
    if inputs.control is not None:
        raise DVInputError("control", "AnimateDiff with a ControlNet is not supported.",
                           "an SD1.5 model without the motion adapter for ControlNet video.")
    for name in ("image", "video"):
        if getattr(inputs, name) is not None:
            raise DVInputError(name, f"{FAMILY.label} text-to-video takes no {name}.", f"disconnect '{name}'.")
    cond = require_conditioning(model, inputs)
    check_common(model, cond, params, model.geometry.spatial)
    max_frames = int(model.module.config.get("motion_max_seq_length") or 32)
    if params.num_frames > max_frames:
        raise DVInputError("num_frames", f"this motion adapter's positions reach {max_frames} frames.",
                           f"at most {max_frames} (it was trained on 16).")
    host.load_to_device([model.managed])
    pipe = _pipeline(unet=model.module, scheduler=scheduler.create())
    pipe.vae_scale_factor = model.geometry.spatial  # read from the VAE, which sampling does not need
    dtype, device = model.managed.dtype, model.managed.device
    call_kwargs = {
        "prompt_embeds": cond.embeds["prompt_embeds"].to(device=device, dtype=dtype),
        "negative_prompt_embeds": cond.embeds["negative_prompt_embeds"].to(device=device, dtype=dtype),
        "height": params.height, "width": params.width, "num_frames": params.num_frames,
        "num_inference_steps": params.num_inference_steps, "guidance_scale": params.guidance_scale,
    }
    latents = run_denoise(pipe, call_kwargs, params, model.family.comfy_latent_format, lambda x: x)
    return {"samples": latents.to(host.intermediate_device()), "dv_family": FAMILY.id,
            "dv_num_frames": params.num_frames}


def decode(vae: DVVAE, latent: dict[str, Any], settings: decode_util.DecodeSettings):
    """As AnimateDiffPipeline.decode_latents: the image VAE on decode_chunk_size frames at a time."""
    return decode_util.decode_image_vae(vae, latent, settings.chunk or DECODE_CHUNK, settings, do_resize=False)
