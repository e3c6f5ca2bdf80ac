"""Stable Video Diffusion (Stability AI): image-to-video with a CLIP image encoder and a temporal VAE decoder.

Stable Video Diffusion glue: StableVideoDiffusionPipeline from an image, its temporal VAE decoder."""

from __future__ import annotations

from typing import Any

from .. import host
from ..errors import DVInputError
from ..model_loaders.components import DVVAE, DVModel, DVSchedulerSpec
from ..samplers import decode as decode_util
from ..samplers.image_input import pipeline_image
from ..samplers.pipeline import SampleInputs, SampleParams, assemble, run_denoise
from ..samplers.validate import check_frames, check_size
from .spec import Family, FrameRule, LatentGeometry, OptionSpec

FAMILY = Family(
    id="svd",
    label="Stable Video Diffusion",
    pipeline_classes={"i2v": "StableVideoDiffusionPipeline"},
    model_classes=("UNetSpatioTemporalConditionModel",),
    vae_classes=("AutoencoderKLTemporalDecoder",),
    text_encoder_classes=(),
    # One frame: the pipeline's per-frame guidance ramp collapses to min_guidance_scale and turns guidance off
    # after the image embeddings were doubled for it (a tensor-size error deep inside diffusers).
    frame_rule=FrameRule(multiple=1, offset=0, minimum=2),
    size_multiple=8,
    geometry=LatentGeometry(spatial=8, temporal=1, channels=4, scaling_factor=0.18215),
    order=50,
    comfy_latent_format="SD15",
    defaults={"num_frames": 25, "fps": 7, "steps": 25, "guidance_scale": 3.0, "width": 1024, "height": 576,
              "decode_chunk_size": 8},
    options=(
        OptionSpec("fps", "INT", 7, "The frame rate the video is conditioned on (SVD was trained on fps - 1, "
                   "which the pipeline applies).", 1, 60, 1),
        OptionSpec("motion_bucket_id", "INT", 127, "How much motion: higher moves more.", 1, 255, 1),
        OptionSpec("noise_aug_strength", "FLOAT", 0.02, "Noise added to the input image: more lets the video "
                   "depart further from it.", 0.0, 1.0, 0.01),
        OptionSpec("min_guidance_scale", "FLOAT", 1.0, "Guidance at the first frame; it rises linearly to "
                   "DVSampler's guidance_scale (the pipeline's max_guidance_scale) at the last.", 0.0, 30.0, 0.1),
    ),
    options_node="DVSVDOptions",
    # The whole pipeline in fp16, as diffusers' video generation guide (using-diffusers/text-img2vid.md) and
    # SVD guide load it: `StableVideoDiffusionPipeline.from_pretrained("stabilityai/stable-video-diffusion-
    # img2vid-xt", torch_dtype=torch.float16, variant="fp16")`.
    component_dtypes={"*": "fp16"},
)

# stable-video-diffusion-img2vid-xt's scheduler.
DEFAULT_SCHEDULER = DVSchedulerSpec.from_config_dict(
    "EulerDiscreteScheduler",
    {"beta_end": 0.012, "beta_schedule": "scaled_linear", "beta_start": 0.00085, "interpolation_type": "linear",
     "num_train_timesteps": 1000, "prediction_type": "v_prediction", "sigma_max": 700.0, "sigma_min": 0.002,
     "steps_offset": 1, "timestep_spacing": "leading", "timestep_type": "continuous", "use_karras_sigmas": True},
    "SVD-XT default",
)


def _pipeline(**components: Any):
    from diffusers import StableVideoDiffusionPipeline

    return assemble(StableVideoDiffusionPipeline, **components)




def sample(model: DVModel, scheduler: DVSchedulerSpec, params: SampleParams,
           inputs: SampleInputs) -> dict[str, Any]:
    if inputs.conditioning is not None:
        raise DVInputError("conditioning", f"{FAMILY.label} is driven by an image, not text.",
                           "disconnect 'conditioning'; wire an IMAGE into 'image'.")
    if inputs.video is not None:
        raise DVInputError("video", f"{FAMILY.label} starts from one image.", "an IMAGE into 'image'.")
    if inputs.image is None:
        raise DVInputError("image", f"{FAMILY.label} needs the image to animate.",
                           "an IMAGE wired into 'image' (e.g. from Load Image).")
    if inputs.vae is None:
        raise DVInputError("vae", f"{FAMILY.label} encodes the image with its VAE, and none is wired in.",
                           "the VAE from the same folder.")
    check_frames(model, params.num_frames)
    check_size(model, params.width, params.height, model.geometry.spatial)
    for role in ("image_encoder", "feature_extractor"):
        if role not in model.companions:
            raise DVInputError("model", f"this model came without its {role}.",
                               "load SVD with DVPipelineLoader from its diffusers folder.")
    host.load_to_device([model.managed, inputs.vae.managed, *model.managed_companions()])
    pipe = _pipeline(unet=model.module, vae=inputs.vae.module, scheduler=scheduler.create(),
                     image_encoder=model.companions["image_encoder"].module,
                     feature_extractor=model.companions["feature_extractor"])
    call_kwargs = {
        "image": pipeline_image("image", inputs.image, params.height, params.width, inputs.options),
        "height": params.height, "width": params.width,
        "num_frames": params.num_frames, "num_inference_steps": params.num_inference_steps,
        "max_guidance_scale": params.guidance_scale,
        "min_guidance_scale": float(inputs.option("min_guidance_scale", 1.0)),
        "fps": int(inputs.option("fps", 7)), "motion_bucket_id": int(inputs.option("motion_bucket_id", 127)),
        "noise_aug_strength": float(inputs.option("noise_aug_strength", 0.02)),
    }
    latents = run_denoise(pipe, call_kwargs, params, model.family.comfy_latent_format, _to_bcfhw)
    return {"samples": _to_bcfhw(latents).to(host.intermediate_device()), "dv_family": FAMILY.id,
            "dv_num_frames": params.num_frames}


def _to_bcfhw(latents):
    """SVD keeps latents as [B, F, C, H, W]; ComfyUI's LATENT convention is [B, C, F, H, W]."""
    return latents.permute(0, 2, 1, 3, 4)


def decode(vae: DVVAE, latent: dict[str, Any], settings: decode_util.DecodeSettings):
    """The pipeline's own decode_latents: the temporal decoder sees decode_chunk_size frames at a time
    (0 = all at once). Its temporal layers only see their chunk, so chunk sizes change the frames a little;
    the model card uses 8 on GPUs."""
    samples = latent["samples"]
    decode_util.check_latent(vae, samples, int(vae.module.config.latent_channels))
    host.load_to_device([vae.managed])
    latents = _to_bcfhw(samples).to(device=vae.managed.device, dtype=vae.managed.dtype)  # back to [B, F, C, H, W]
    frames = latents.shape[1]
    chunk = settings.chunk or frames
    pipe = _pipeline(vae=vae.module)
    with decode_util.progress_per_call(vae.module.decoder, -(-latents.shape[0] * frames // chunk)):
        video = pipe.decode_latents(latents, frames, chunk)
    return decode_util.to_image(pipe.video_processor, video)
