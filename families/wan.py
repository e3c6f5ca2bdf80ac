"""Wan2.1 (Alibaba): text- and image-to-video with a UMT5 encoder, a flow-matching DiT and a causal 3D VAE
(image-to-video adds a CLIP image encoder and a DiT that also takes the first frame's latents).

Wan2.1 glue: WanPipeline for prompts and sampling, the Wan VAE with its latents mean/std for decoding."""

from __future__ import annotations

from typing import Any

from .. import host
from ..errors import DVInputError
from ..model_loaders.components import DVVAE, DVConditioning, DVModel, DVSchedulerSpec, DVTextEncoder
from ..samplers import decode as decode_util
from ..samplers.clip_text import encode_t5_with_pipeline
from ..samplers.pipeline import SampleInputs, SampleParams, assemble, run_denoise
from ..samplers.validate import check_common, require_conditioning
from .spec import Family, FrameRule, LatentGeometry

FAMILY = Family(
    id="wan",
    label="Wan2.1",
    pipeline_classes={"t2v": "WanPipeline", "i2v": "WanImageToVideoPipeline"},
    model_classes=("WanTransformer3DModel",),
    vae_classes=("AutoencoderKLWan",),
    text_encoder_classes=("UMT5EncoderModel", "T5EncoderModel"),
    frame_rule=FrameRule(multiple=4, offset=1),
    size_multiple=16,
    geometry=LatentGeometry(spatial=8, temporal=4, channels=16, scaling_factor=1.0),
    order=20,
    single_file_types={"wan-t2v": "WanTransformer3DModel", "wan-i2v": "WanTransformer3DModel"},
    # diffusers' detection reports the Wan VAE as a Wan model type; the VAE's own key tells them apart.
    single_file_vae_keys={"decoder.middle.0.residual.0.gamma": "AutoencoderKLWan"},
    comfy_latent_format="Wan21",
    flow_matching=True,
    defaults={"num_frames": 81, "fps": 16, "steps": 50, "guidance_scale": 5.0, "width": 832, "height": 480,
              "max_sequence_length": 512},
)

# Wan2.1-T2V's scheduler: UniPC on flow sigmas, shift 3.0 (the model card's value for 480p; 5.0 for 720p).
DEFAULT_SCHEDULER = DVSchedulerSpec.from_config_dict(
    "UniPCMultistepScheduler",
    {"num_train_timesteps": 1000, "prediction_type": "flow_prediction", "use_flow_sigmas": True,
     "flow_shift": 3.0, "solver_order": 2, "final_sigmas_type": "zero"},
    "Wan2.1-T2V default",
)


def _pipeline(**components: Any):
    from diffusers import WanPipeline

    return assemble(WanPipeline, **components)


def encode(te: DVTextEncoder, prompt: str, negative_prompt: str, max_sequence_length: int,
           truncate: bool) -> DVConditioning:
    return encode_t5_with_pipeline(FAMILY, _pipeline, te, prompt, negative_prompt, max_sequence_length,
                                   truncate, ("prompt_embeds", "negative_prompt_embeds"))


# Wan2.1-I2V's image cross-attention splits the text tokens from the CLIP tokens by position, taking the last
# 512 as text (hardcoded in diffusers' WanAttnProcessor), so its prompts must be padded to exactly 512.
I2V_TEXT_TOKENS = 512


def is_image_to_video_model(model: DVModel) -> bool:
    """The I2V DiT takes the noise, a frame mask and the first frame's latents (16 + 4 + 16 channels) and
    CLIP image embeddings; the T2V DiT the noise alone. Wan2.2's I2V DiT has the extra channels but no
    image_dim, so the channels are what tell."""
    config = model.module.config
    return config.image_dim is not None or int(config.in_channels) != int(config.out_channels)


def _check_task(model: DVModel, inputs: SampleInputs) -> str:
    if inputs.video is not None:
        raise DVInputError("video", f"{FAMILY.label} takes no video.", "disconnect 'video'.")
    if inputs.image is None:
        if is_image_to_video_model(model):
            raise DVInputError("image", f"'{model.source}' is a {FAMILY.label} image-to-video model, and no "
                               "image is wired in.", "the first frame (an IMAGE) into 'image'.")
        return "t2v"
    if not is_image_to_video_model(model):
        raise DVInputError("image", f"'{model.source}' is a {FAMILY.label} text-to-video model; it cannot "
                           "start from an image.", "an image-to-video model (Wan2.1-I2V), or disconnect 'image'.")
    config = model.module.config
    if config.image_dim is None:
        raise DVInputError("model", f"'{model.source}' is an image-to-video DiT without a CLIP image input "
                           "(Wan2.2 I2V), which this pack does not drive.",
                           "a Wan2.1 image-to-video model (Wan2.1-I2V-14B-480P/720P-Diffusers).")
    if getattr(config, "pos_embed_seq_len", None) is not None:
        raise DVInputError("model", f"'{model.source}' is a first-last-frame model (Wan2.1-FLF2V), which "
                           "needs a last frame that DVSampler has no input for.",
                           "a Wan2.1 image-to-video model (Wan2.1-I2V-14B-480P/720P-Diffusers).")
    if inputs.vae is None:
        raise DVInputError("vae", f"{FAMILY.label} image-to-video encodes the image with its VAE, and none "
                           "is wired in.", "the VAE from the same folder.")
    vae_channels = getattr(inputs.vae.module.config, "z_dim", None)
    if inputs.vae.family.id != FAMILY.id or vae_channels != int(config.out_channels):
        raise DVInputError("vae", f"the image is encoded to the model's latents, and this is a "
                           f"{inputs.vae.family.label} VAE with {vae_channels or '?'} latent channels where the model "
                           f"has {config.out_channels}.", "the Wan2.1 VAE (AutoencoderKLWan) from the same folder.")
    for role in ("image_encoder", "image_processor"):
        if role not in model.companions:
            raise DVInputError("model", f"this image-to-video model came without its {role}.",
                               "load it with DVPipelineLoader from its diffusers folder.")
    return "i2v"


def sample(model: DVModel, scheduler: DVSchedulerSpec, params: SampleParams,
           inputs: SampleInputs) -> dict[str, Any]:
    task = _check_task(model, inputs)
    cond = require_conditioning(model, inputs)
    patch = model.module.config.patch_size  # (t, h, w)
    check_common(model, cond, params, model.geometry.spatial * int(patch[1]))
    text_dim = int(model.module.config.text_dim)
    if int(cond.embeds["prompt_embeds"].shape[-1]) != text_dim:
        raise DVInputError("conditioning", f"the text embeddings have width "
                           f"{cond.embeds['prompt_embeds'].shape[-1]}, but this transformer expects {text_dim}.",
                           "the UMT5 text encoder from the same Wan folder.")
    tokens = int(cond.embeds["prompt_embeds"].shape[1])
    splits_by_position = getattr(model.module.config, "added_kv_proj_dim", None) is not None
    if task == "i2v" and splits_by_position and tokens != I2V_TEXT_TOKENS:
        raise DVInputError("conditioning", f"the prompt was encoded to {tokens} tokens; {FAMILY.label} "
                           f"image-to-video tells text from image tokens by position and needs exactly "
                           f"{I2V_TEXT_TOKENS}.", f"max_sequence_length {I2V_TEXT_TOKENS} on DVTextEncode.")
    dtype, device = model.managed.dtype, model.managed.device
    call_kwargs = {
        "prompt_embeds": cond.embeds["prompt_embeds"].to(device=device, dtype=dtype),
        "negative_prompt_embeds": cond.embeds["negative_prompt_embeds"].to(device=device, dtype=dtype),
        "height": params.height, "width": params.width, "num_frames": params.num_frames,
        "num_inference_steps": params.num_inference_steps, "guidance_scale": params.guidance_scale,
    }
    if task == "i2v":
        from diffusers import WanImageToVideoPipeline

        from ..samplers.image_input import to_pil

        host.load_to_device([model.managed, inputs.vae.managed, *model.managed_companions()])
        pipe = WanImageToVideoPipeline(
            tokenizer=None, text_encoder=None, vae=inputs.vae.module, scheduler=scheduler.create(),
            image_processor=model.companions["image_processor"],
            image_encoder=model.companions["image_encoder"].module, transformer=model.module)
        # The same PIL image for the VAE and the CLIP encoder, as a user of the pipeline would pass it.
        call_kwargs["image"] = to_pil(inputs.image)
    else:
        host.load_to_device([model.managed])
        pipe = _pipeline(transformer=model.module, scheduler=scheduler.create())
        # Geometry the pipeline reads from the VAE, which sampling does not need.
        pipe.vae_scale_factor_spatial = model.geometry.spatial
        pipe.vae_scale_factor_temporal = model.geometry.temporal
    latents = run_denoise(pipe, call_kwargs, params, FAMILY.comfy_latent_format, lambda x: x)
    return {"samples": latents.to(host.intermediate_device()), "dv_family": FAMILY.id,
            "dv_num_frames": params.num_frames}


def decode(vae: DVVAE, latent: dict[str, Any], settings: decode_util.DecodeSettings):
    """As WanPipeline does after sampling: undo the latents normalisation, then the VAE, which already
    decodes one latent frame at a time with a causal cache (so there is no chunk size to choose)."""
    import torch
    from diffusers.video_processor import VideoProcessor

    module = vae.module
    config = module.config
    samples = latent["samples"]
    decode_util.check_latent(vae, samples, int(config.z_dim))
    host.load_to_device([vae.managed])
    latents = samples.to(device=vae.managed.device, dtype=vae.managed.dtype)
    mean = torch.tensor(config.latents_mean).view(1, config.z_dim, 1, 1, 1).to(latents.device, latents.dtype)
    inv_std = 1.0 / torch.tensor(config.latents_std).view(1, config.z_dim, 1, 1, 1).to(latents.device, latents.dtype)
    latents = latents / inv_std + mean
    spatial = vae.geometry.spatial
    with decode_util.temporary_attributes(module, **decode_util.strided_tiling(settings, spatial)):
        calls = latents.shape[2] * decode_util.strided_tile_count(module, latents, spatial)
        with decode_util.progress_per_call(module.decoder, calls):
            video = module.decode(latents, return_dict=False)[0]
    return decode_util.to_image(VideoProcessor(vae_scale_factor=8), video)
