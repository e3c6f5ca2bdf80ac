"""Lucy Edit (Decart): video editing by instruction. A Wan2.2 TI2V-5B DiT that takes the noise and the input
video's latents side by side (twice the channels in) and repaints the whole video as the prompt says ("change
the apron to a clown costume"), keeping its motion. LucyEditPipeline drives it: the video comes into
DVSampler's `video`, resized to the render size as the pipeline resizes PIL frames, its first num_frames frames
used (the guide slices `load_video(url)[:num_frames]`); the UMT5 prompt encoding and the decode are Wan's own.

The released Lucy-Edit-Dev is 5B-based (the Wan2.2 VAE: 48 latent channels, 16x smaller in space); the pipeline
also runs a Wan2.1-VAE DiT or two experts with `boundary_ratio`, and takes `expand_timesteps` from the folder,
all of which pass through as the folder's pipeline config."""

from __future__ import annotations

from typing import Any

from .. import host
from ..errors import DVInputError
from ..model_loaders.components import DVVAE, DVConditioning, DVModel, DVSchedulerSpec, DVTextEncoder
from ..samplers import decode as decode_util
from ..samplers.clip_text import encode_t5_with_pipeline
from ..samplers.pipeline import SampleInputs, SampleParams, assemble, denoisers_loaded, run_denoise
from ..samplers.validate import check_common, check_text_width, require_conditioning
from . import wan
from .spec import Family, FrameRule, LatentGeometry

FAMILY = Family(
    id="lucyedit",
    label="Lucy Edit",
    pipeline_classes={"v2v": "LucyEditPipeline"},
    model_classes=("WanTransformer3DModel",),
    vae_classes=("AutoencoderKLWan",),
    text_encoder_classes=("UMT5EncoderModel", "T5EncoderModel"),
    frame_rule=FrameRule(multiple=4, offset=1),
    # The Wan2.2 VAE's 16x times the DiT's 2x2 patches; LucyEditPipeline.check_inputs itself asks for 16.
    size_multiple=32,
    pipeline_size_multiple=16,
    geometry=LatentGeometry(spatial=16, temporal=4, channels=wan.TI2V_CHANNELS, scaling_factor=1.0),
    order=27,
    comfy_latent_format="Wan22",
    flow_matching=True,
    # The pipeline's example: 832x480, 81 frames, guidance 5, exported at 24 fps; 50 steps and 512 tokens are
    # its __call__ defaults.
    defaults={"num_frames": 81, "fps": 24, "steps": 50, "guidance_scale": 5.0, "width": 832, "height": 480,
              "max_sequence_length": 512},
    # The pipeline's example loads `AutoencoderKLWan.from_pretrained(model_id, subfolder="vae",
    # torch_dtype=torch.float32)` beside a bf16 pipeline; the DiT is Wan's, which overflows in fp16 as Wan's does.
    component_dtypes={"vae": "fp32"},
    fp16_overflows=True,
)

# LucyEditPipeline's scheduler class (its __init__ names FlowMatchEulerDiscreteScheduler), with Wan2.2 TI2V-5B's
# shift 5.0, for a model loaded without its folder.
DEFAULT_SCHEDULER = DVSchedulerSpec.from_config_dict(
    "FlowMatchEulerDiscreteScheduler", {"num_train_timesteps": 1000, "shift": 5.0}, "Lucy Edit default")


def _pipeline_class():
    from diffusers import LucyEditPipeline

    return LucyEditPipeline


def _pipeline(**components: Any):
    return assemble(_pipeline_class(), **components)


def encode(te: DVTextEncoder, prompt: str, negative_prompt: str, max_sequence_length: int,
           truncate: bool) -> DVConditioning:
    return encode_t5_with_pipeline(FAMILY, _pipeline, te, prompt, negative_prompt, max_sequence_length,
                                   truncate, ("prompt_embeds", "negative_prompt_embeds"))


def _check_vae(model: DVModel, vae: DVVAE, input_name: str = "vae") -> None:
    """The VAE must make the latents this DiT works on (a Wan2.1 VAE with the 5B-based DiT does not)."""
    channels = int(model.module.config.out_channels)
    vae_channels = getattr(vae.module.config, "z_dim", None)
    if vae.family.id != FAMILY.id or vae_channels != channels:
        raise DVInputError(input_name, f"the video is encoded to the model's latents, and this is a "
                           f"{vae.family.label} VAE with {vae_channels or '?'} latent channels where the "
                           f"{FAMILY.label} model has {channels}.", f"the VAE from the same {FAMILY.label} folder.")


def _check_inputs(model: DVModel, params: SampleParams, inputs: SampleInputs) -> DVConditioning:
    if inputs.image is not None:
        raise DVInputError("image", f"{FAMILY.label} edits a video and takes no image.",
                           "disconnect 'image'; wire the video to edit into 'video'.")
    if inputs.video is None:
        raise DVInputError("video", f"{FAMILY.label} edits a video, and none is wired in.",
                           "the frames to edit (DVLoadVideo's IMAGE) into 'video'.")
    if inputs.vae is None:
        raise DVInputError("vae", f"{FAMILY.label} encodes the input video with its VAE, and none is wired in.",
                           "the VAE from the same folder.")
    _check_vae(model, inputs.vae)
    cond = require_conditioning(model, inputs)
    patch = model.module.config.patch_size  # (t, h, w)
    check_common(model, cond, params, model.geometry.spatial * int(patch[1]))
    frames = int(inputs.video.shape[0]) if hasattr(inputs.video, "shape") else 0
    if frames < params.num_frames:
        raise DVInputError("video", f"{frames} frames wired in, fewer than num_frames {params.num_frames}; the "
                           "edit has as many frames as the video it repaints.",
                           f"num_frames at most {frames} ({FAMILY.frame_rule.describe()}), or a longer video.")
    check_text_width(model, cond, int(model.module.config.text_dim), "UMT5 text encoder")
    return cond


def sample(model: DVModel, scheduler: DVSchedulerSpec, params: SampleParams,
           inputs: SampleInputs) -> dict[str, Any]:
    from ..samplers.image_input import pipeline_frames

    cond = _check_inputs(model, params, inputs)
    wan._check_experts(model)
    dtype, device = model.managed.dtype, model.managed.device
    call_kwargs = {
        "prompt_embeds": cond.embeds["prompt_embeds"].to(device=device, dtype=dtype),
        "negative_prompt_embeds": cond.embeds["negative_prompt_embeds"].to(device=device, dtype=dtype),
        "video": pipeline_frames("video", inputs.video, params.height, params.width, inputs.options,
                                 count=params.num_frames),
        "height": params.height, "width": params.width, "num_frames": params.num_frames,
        "num_inference_steps": params.num_inference_steps, "guidance_scale": params.guidance_scale,
    }
    experts = {role: managed.module for role, managed in model.denoisers().items()}
    pipe = assemble(_pipeline_class(), model.pipeline_config, vae=inputs.vae.module, scheduler=scheduler.create(),
                    **experts)
    with denoisers_loaded(model, inputs.vae.managed):
        latents = run_denoise(pipe, call_kwargs, params, model.family.comfy_latent_format, lambda x: x)
    return {"samples": latents.to(host.intermediate_device()), "dv_family": FAMILY.id,
            "dv_num_frames": params.num_frames}


def decode(vae: DVVAE, latent: dict[str, Any], settings: decode_util.DecodeSettings):
    """As LucyEditPipeline does after sampling, which is WanPipeline's decode."""
    return wan.decode(vae, latent, settings)
