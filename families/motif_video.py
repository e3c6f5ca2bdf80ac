"""Motif-Video (Motif Technologies): text-to-video with a T5Gemma2 text encoder, a dual- and single-stream DiT
(MotifVideoTransformer3DModel) and the Wan2.1 VAE. MotifVideoPipeline drives it; its guidance is a diffusers
guider component (the folder's, e.g. adaptive projected guidance) rather than a call argument, so DVSampler's
guidance_scale sets the guider's own: a copy of the folder's guider with that guidance_scale, as
`guider.new(guidance_scale=...)` makes it. The decode is Wan's.

MotifVideoImage2VideoPipeline (the image-to-video twin, with a SigLIP image encoder) is not run here."""

from __future__ import annotations

from typing import Any

from .. import host
from ..errors import DVInputError
from ..model_loaders.components import DVVAE, DVConditioning, DVModel, DVSchedulerSpec, DVTextEncoder
from ..samplers import decode as decode_util
from ..samplers.clip_text import T5_EMBED_KEYS, check_length
from ..samplers.pipeline import SampleInputs, SampleParams, assemble, denoisers_loaded, run_denoise
from ..samplers.validate import check_common, check_text_width, require_conditioning
from . import wan
from .spec import Family, FrameRule, LatentGeometry

FAMILY = Family(
    id="motif_video",
    label="Motif-Video",
    pipeline_classes={"t2v": "MotifVideoPipeline"},
    model_classes=("MotifVideoTransformer3DModel",),
    vae_classes=("AutoencoderKLWan",),
    text_encoder_classes=("T5Gemma2Encoder",),
    frame_rule=FrameRule(multiple=4, offset=1),
    # The Wan VAE's 8x times a 2x2 patch (the pipeline's default when it has no transformer); check_inputs
    # asks for multiples of the VAE factor only, and the loaded transformer's patch is checked per run.
    size_multiple=16,
    pipeline_size_multiple=8,
    geometry=LatentGeometry(spatial=8, temporal=4, channels=16, scaling_factor=1.0),
    order=46,
    comfy_latent_format="Wan21",
    flow_matching=True,
    # The pipeline's example: 1280x736, 121 frames, 50 steps, exported at 24 fps; 512 tokens its default; the
    # guidance is the folder guider's (7.5 is AdaptiveProjectedGuidance's default).
    defaults={"num_frames": 121, "fps": 24, "steps": 50, "guidance_scale": 7.5, "width": 1280, "height": 736,
              "max_sequence_length": 512},
    notes="guidance_scale sets the folder's guider (adaptive projected guidance in diffusers' test).",
)

# diffusers' test scheduler (FlowMatch Euler, shift 7), for a model loaded without its folder.
DEFAULT_SCHEDULER = DVSchedulerSpec.from_config_dict(
    "FlowMatchEulerDiscreteScheduler", {"num_train_timesteps": 1000, "shift": 7.0}, "Motif-Video default")


def _pipeline_class():
    from diffusers import MotifVideoPipeline

    return MotifVideoPipeline


def encode(te: DVTextEncoder, prompt: str, negative_prompt: str, max_sequence_length: int,
           truncate: bool) -> DVConditioning:
    """The pipeline's own encode_prompt: the prompt and the negative prompt each padded to max_sequence_length,
    with their attention masks (the negative is encoded even when empty, as __call__ does under guidance)."""
    if te.tokenizer is None:
        raise DVInputError("text_encoder", "this text encoder came without its tokenizer.",
                           "load it from a diffusers folder that has a tokenizer subfolder.")
    notes = check_length(te.tokenizer, {"prompt": prompt, "negative_prompt": negative_prompt},
                         max_sequence_length, truncate)
    host.load_to_device([te.managed])
    pipe = assemble(_pipeline_class(), tokenizer=te.tokenizer, text_encoder=te.module)
    embeds, negative, mask, negative_mask = pipe.encode_prompt(
        prompt, negative_prompt, max_sequence_length=max_sequence_length, device=te.managed.device)
    values = (embeds, mask, negative, negative_mask)
    return DVConditioning(FAMILY, prompt, negative_prompt, dict(zip(T5_EMBED_KEYS, values, strict=True)), notes)


def _guider(model: DVModel, guidance_scale: float):
    guider = model.companions.get("guider")
    if guider is None or not hasattr(guider, "new"):
        raise DVInputError("model", f"this {FAMILY.label} model came without its guider (the folder's 'guider' "
                           "component, which does the guidance).", "load it with DVPipelineLoader from its "
                           "diffusers folder.")
    return guider.new(guidance_scale=guidance_scale)


def _check_inputs(model: DVModel, params: SampleParams, inputs: SampleInputs) -> DVConditioning:
    for name in ("image", "video"):
        if getattr(inputs, name) is not None:
            raise DVInputError(name, f"{FAMILY.label} makes video from text and takes no {name}.",
                               f"disconnect '{name}'.")
    if inputs.vae is not None and (inputs.vae.family.id != FAMILY.id
                                   or int(inputs.vae.module.config.z_dim) != int(model.module.config.out_channels)):
        raise DVInputError("vae", f"this is a {inputs.vae.family.label} VAE, and the model is {FAMILY.label}.",
                           f"the VAE from the same {FAMILY.label} folder, or none (text-to-video needs none).")
    cond = require_conditioning(model, inputs)
    check_common(model, cond, params, model.geometry.spatial * int(model.module.config.patch_size))
    check_text_width(model, cond, model.module.config.text_embed_dim, "T5Gemma2 text encoder")
    return cond


def sample(model: DVModel, scheduler: DVSchedulerSpec, params: SampleParams,
           inputs: SampleInputs) -> dict[str, Any]:
    cond = _check_inputs(model, params, inputs)
    dtype, device = model.managed.dtype, model.managed.device
    call_kwargs: dict[str, Any] = {
        key: value.to(device=device, dtype=dtype if value.is_floating_point() else value.dtype)
        for key, value in cond.embeds.items()}
    call_kwargs.update(height=params.height, width=params.width, num_frames=params.num_frames,
                       num_inference_steps=params.num_inference_steps)
    pipe = assemble(_pipeline_class(), model.pipeline_config, transformer=model.module, scheduler=scheduler.create(),
                    guider=_guider(model, params.guidance_scale))
    # Geometry the pipeline reads from the VAE, which sampling does not need.
    pipe.vae_scale_factor_spatial = model.geometry.spatial
    pipe.vae_scale_factor_temporal = model.geometry.temporal
    pipe.vae = _LatentChannels(model.geometry.channels)
    with denoisers_loaded(model):
        latents = run_denoise(pipe, call_kwargs, params, model.family.comfy_latent_format, lambda x: x)
    return {"samples": latents.to(host.intermediate_device()), "dv_family": FAMILY.id,
            "dv_num_frames": params.num_frames}


class _LatentChannels:
    """What MotifVideoPipeline reads from its VAE while sampling (`vae.config.z_dim`), without the VAE."""

    def __init__(self, channels: int) -> None:
        self.config = type("Config", (), {"z_dim": channels})()


def decode(vae: DVVAE, latent: dict[str, Any], settings: decode_util.DecodeSettings):
    """As MotifVideoPipeline decodes: its own denormalisation (latents times the VAE's std plus its mean), then
    the Wan VAE as WanPipeline's decode runs it."""
    config = vae.module.config

    def denormalize(latents):
        return _pipeline_class()._denormalize_latents(latents, config.latents_mean, config.latents_std)

    return wan.decode(vae, latent, settings, denormalize)
