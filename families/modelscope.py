"""ModelScope text-to-video (damo-vilab): a 3D UNet over Stable Diffusion's image VAE and CLIP encoder.

ModelScope text-to-video glue: TextToVideoSDPipeline for sampling, its image VAE frame by frame."""

from __future__ import annotations

from typing import Any

from .. import host
from ..errors import DVInputError
from ..model_loaders.components import DVVAE, DVConditioning, DVModel, DVSchedulerSpec, DVTextEncoder
from ..samplers import decode as decode_util
from ..samplers.clip_text import encode_with_pipeline
from ..samplers.pipeline import SampleInputs, SampleParams, assemble, run_denoise
from ..samplers.validate import check_common, require_conditioning
from .deprecated import moved_class
from .spec import Family, FrameRule, LatentGeometry

FAMILY = Family(
    id="modelscope",
    label="ModelScope T2V",
    pipeline_classes={"t2v": "TextToVideoSDPipeline"},
    model_classes=("UNet3DConditionModel",),
    vae_classes=("AutoencoderKL",),  # shared with image models: loaders read the family from the folder
    text_encoder_classes=("CLIPTextModel",),
    frame_rule=FrameRule(multiple=1, offset=0, minimum=1),  # an image VAE: every frame has its own latent
    size_multiple=8,
    geometry=LatentGeometry(spatial=8, temporal=1, channels=4, scaling_factor=0.18215),
    order=90,
    comfy_latent_format="SD15",
    defaults={"num_frames": 16, "fps": 8, "steps": 25, "guidance_scale": 9.0, "width": 256, "height": 256},
    # The whole pipeline in fp16, as diffusers' text-to-video guide (api/pipelines/text_to_video.md) loads it:
    # `DiffusionPipeline.from_pretrained("damo-vilab/text-to-video-ms-1.7b", torch_dtype=torch.float16,
    # variant="fp16")`.
    component_dtypes={"*": "fp16"},
)

# damo-vilab/text-to-video-ms-1.7b's scheduler.
DEFAULT_SCHEDULER = DVSchedulerSpec.from_config_dict(
    "DDIMScheduler",
    {"beta_end": 0.012, "beta_schedule": "scaled_linear", "beta_start": 0.00085, "clip_sample": False,
     "num_train_timesteps": 1000, "prediction_type": "epsilon", "set_alpha_to_one": False, "steps_offset": 1},
    "text-to-video-ms-1.7b default",
)


def _pipeline(**components: Any):
    # The first node to reach a diffusers without the class names its own input.
    input_name = "model" if "unet" in components else "text_encoder"
    return assemble(moved_class("TextToVideoSDPipeline", FAMILY.label, input_name), **components)


def encode(te: DVTextEncoder, prompt: str, negative_prompt: str, max_sequence_length: int,
           truncate: bool) -> DVConditioning:
    return encode_with_pipeline(FAMILY, _pipeline, te, prompt, negative_prompt, truncate)


def sample(model: DVModel, scheduler: DVSchedulerSpec, params: SampleParams,
           inputs: SampleInputs) -> dict[str, Any]:
    for name in ("image", "video"):
        if getattr(inputs, name) is not None:
            raise DVInputError(name, f"{FAMILY.label} is text-to-video only.", f"disconnect '{name}'.")
    cond = require_conditioning(model, inputs)
    check_common(model, cond, params, model.geometry.spatial)
    host.load_to_device([model.managed])
    pipe = _pipeline(unet=model.module, scheduler=scheduler.create())
    pipe.vae_scale_factor = model.geometry.spatial  # what the pipeline reads from the VAE it is not given
    dtype, device = model.managed.dtype, model.managed.device
    call_kwargs = {
        "prompt_embeds": cond.embeds["prompt_embeds"].to(device=device, dtype=dtype),
        "negative_prompt_embeds": cond.embeds["negative_prompt_embeds"].to(device=device, dtype=dtype),
        "height": params.height, "width": params.width, "num_frames": params.num_frames,
        "num_inference_steps": params.num_inference_steps, "guidance_scale": params.guidance_scale,
    }
    latents = run_denoise(pipe, call_kwargs, params, model.family.comfy_latent_format, lambda x: x,
                          legacy_callback=True)
    return {"samples": latents.to(host.intermediate_device()), "dv_family": FAMILY.id,
            "dv_num_frames": params.num_frames}


def decode(vae: DVVAE, latent: dict[str, Any], settings: decode_util.DecodeSettings):
    """As TextToVideoSDPipeline.decode_latents, in chunks of frames (exact: an image VAE)."""
    return decode_util.decode_image_vae(vae, latent, settings.chunk, settings)
