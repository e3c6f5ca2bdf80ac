"""Mochi-1 (Genmo): text-to-video with a T5 encoder, an asymmetric DiT and a causal 3D VAE.

Mochi-1 glue: MochiPipeline for prompts and sampling, the Mochi VAE with its latents mean/std for decoding.

Decoding in chunks of latent frames goes through the VAE's own framewise loop (`use_framewise_decoding`,
`num_latent_frames_batch_size`). Its switch `_enable_framewise_decoding()` cannot be used: in diffusers 0.42 it
flips the causal convolutions to `pad_mode="constant"`, but they were built for replicate padding (no padding
inside the conv), so the spatial padding disappears and the decoder fails ("Kernel size can't be greater than
actual input size"). Instead each causal convolution is given, for the one decode, a forward that keeps the
replicate padding and hands the last frames on to the next chunk, which makes a chunked decode equal to the
one-pass decode the pipeline does (the decoder has no attention, and its group norms work frame by frame).
"""

from __future__ import annotations

import contextlib
import inspect
import math
from collections.abc import Iterator
from typing import Any

from .. import host
from ..errors import DVInputError
from ..model_loaders.components import DVVAE, DVConditioning, DVModel, DVSchedulerSpec, DVTextEncoder
from ..samplers import decode as decode_util
from ..samplers.clip_text import T5_EMBED_KEYS, encode_t5_with_pipeline
from ..samplers.pipeline import SampleInputs, SampleParams, assemble, run_denoise
from ..samplers.validate import check_common, check_text_width, require_conditioning
from .spec import Family, FrameRule, LatentGeometry

FAMILY = Family(
    id="mochi",
    label="Mochi-1",
    pipeline_classes={"t2v": "MochiPipeline"},
    model_classes=("MochiTransformer3DModel",),
    vae_classes=("AutoencoderKLMochi",),
    text_encoder_classes=("T5EncoderModel",),
    # MochiPipeline samples (num_frames - 1) // 6 + 1 latent frames and the VAE decodes (latent - 1) * 6 + 1,
    # so any other count would silently come out as the 6k+1 below it.
    frame_rule=FrameRule(multiple=6, offset=1),
    size_multiple=16,  # VAE 8 x patch 2; the pipeline itself only checks 8
    # The VAE config has latents_mean/std and scaling_factor 1.0; the pipeline hard-codes factors 8 and 6.
    geometry=LatentGeometry(spatial=8, temporal=6, channels=12, scaling_factor=1.0),
    order=40,
    batched_cfg=True,
    single_file_types={"mochi-1": "MochiTransformer3DModel"},
    comfy_latent_format="Mochi",
    flow_matching=True,
    # Model card: 848x480, 30 fps, 64 steps, guidance 4.5; its 84 frames is not 6k+1, so 85.
    defaults={"num_frames": 85, "fps": 30, "steps": 64, "guidance_scale": 4.5, "width": 848, "height": 480,
              "max_sequence_length": 256},
    # The diffusers Mochi guide (api/pipelines/mochi.md) loads the full-precision weights (`MochiPipeline.
    # from_pretrained("genmo/mochi-1-preview")`, fp32) and runs the DiT under bf16 autocast; "The text encoder
    # and VAE use `torch.float32`, while the DiT uses `torch.bfloat16`" in Genmo's reference. The VAE follows
    # (chunked decoding keeps its memory in bounds); the T5-XXL encoder keeps the device default, since in fp32
    # it needs 19 GB (4.7B parameters): pick text_encoder_dtype fp32 on DVPipelineLoader to match the reference.
    component_dtypes={"vae": "fp32"},
    notes="The model card's 84 frames is not a count Mochi produces (6k+1); 85 is the nearest above. "
    "Sampling uses Mochi's own linear-quadratic sigmas and a transformer that counts time from noise to data, "
    "so the scheduler is FlowMatch Euler with the model's inverted sigmas (others are refused).",
)

# genmo/mochi-1-preview's scheduler: FlowMatch Euler with inverted sigmas (Mochi's transformer counts time
# from noise, 0, to data, 1000). Used when a model comes without its folder's scheduler.
DEFAULT_SCHEDULER = DVSchedulerSpec.from_config_dict(
    "FlowMatchEulerDiscreteScheduler",
    {"num_train_timesteps": 1000, "shift": 1.0, "use_dynamic_shifting": False, "base_shift": 0.5, "max_shift": 1.15,
     "base_image_seq_len": 256, "max_image_seq_len": 4096, "invert_sigmas": True},
    "Mochi-1 preview default",
)


def _pipeline(**components: Any):
    from diffusers import MochiPipeline

    return assemble(MochiPipeline, **components)


def encode(te: DVTextEncoder, prompt: str, negative_prompt: str, max_sequence_length: int,
           truncate: bool) -> DVConditioning:
    # The transformer pools the text over the attention mask, so the masks travel with the embeddings.
    return encode_t5_with_pipeline(FAMILY, _pipeline, te, prompt, negative_prompt, max_sequence_length,
                                   truncate, T5_EMBED_KEYS)


# MochiPipeline's linear_quadratic_schedule takes num_steps // 2 linear steps and divides by that count.
MIN_STEPS = 2


def _check_scheduler(scheduler) -> None:
    """MochiPipeline always hands the scheduler its own linear-quadratic sigmas and feeds the transformer the
    scheduler's timesteps as they come, which only means Mochi's time when the sigmas are inverted."""
    name = type(scheduler).__name__
    if "sigmas" not in inspect.signature(scheduler.set_timesteps).parameters:
        raise DVInputError("scheduler", f"{name} cannot take the custom sigma schedule Mochi samples with.",
                           "'from model' (FlowMatch Euler), or DVScheduler's FlowMatch Euler on the model's config.")
    if not scheduler.config.get("invert_sigmas", False):
        raise DVInputError("scheduler", f"{name} counts time from data to noise, but the Mochi transformer "
                           "takes time from noise to data (a FlowMatch Euler scheduler with invert_sigmas).",
                           "'from model', or DVScheduler's FlowMatch Euler with nothing wired into 'base'.")


def sample(model: DVModel, scheduler: DVSchedulerSpec, params: SampleParams,
           inputs: SampleInputs) -> dict[str, Any]:
    for name in ("image", "video"):
        if getattr(inputs, name) is not None:
            raise DVInputError(name, f"{FAMILY.label} text-to-video takes no {name}.", f"disconnect '{name}'.")
    cond = require_conditioning(model, inputs)
    patch = int(model.module.config.patch_size)
    check_common(model, cond, params, model.geometry.spatial * patch)
    if params.num_inference_steps < MIN_STEPS:
        raise DVInputError("num_inference_steps", f"{params.num_inference_steps} step: Mochi's linear-quadratic "
                           "sigma schedule spends half the steps on its linear part and divides by their count, "
                           "so it needs at least 2 (at 1 diffusers fails with a division by zero).",
                           f"{MIN_STEPS} or more (the model card uses 64).")
    check_text_width(model, cond, int(model.module.config.text_embed_dim), "T5 text encoder")
    instance = scheduler.create()
    _check_scheduler(instance)
    host.load_to_device([model.managed])
    pipe = _pipeline(transformer=model.module, scheduler=instance)
    dtype, device = model.managed.dtype, model.managed.device
    call_kwargs = {
        "prompt_embeds": cond.embeds["prompt_embeds"].to(device=device, dtype=dtype),
        "prompt_attention_mask": cond.embeds["prompt_attention_mask"].to(device=device),
        "negative_prompt_embeds": cond.embeds["negative_prompt_embeds"].to(device=device, dtype=dtype),
        "negative_prompt_attention_mask": cond.embeds["negative_prompt_attention_mask"].to(device=device),
        "height": params.height, "width": params.width, "num_frames": params.num_frames,
        "num_inference_steps": params.num_inference_steps, "guidance_scale": params.guidance_scale,
    }
    latents = run_denoise(pipe, call_kwargs, params, model.family.comfy_latent_format, lambda x: x)
    return {"samples": latents.to(host.intermediate_device()), "dv_family": FAMILY.id,
            "dv_num_frames": params.num_frames}


def _carry_forward(conv):
    """A forward for one replicate-padded causal conv that takes the frames before this chunk from
    `conv_cache` (the first chunk repeats its first frame, as the one-pass decode does) and returns the
    frames the next chunk needs."""
    import torch
    import torch.nn.functional as F

    width_pad, height_pad, time_pad = conv.width_pad, conv.height_pad, conv.time_pad

    def forward(inputs, conv_cache=None):
        before = conv_cache if conv_cache is not None else inputs[:, :, :1].expand(-1, -1, time_pad, -1, -1)
        frames = torch.cat([before, inputs], dim=2)
        cache = frames[:, :, frames.shape[2] - time_pad:].clone()
        padded = F.pad(frames, (width_pad, width_pad, height_pad, height_pad, 0, 0), mode="replicate")
        return conv.conv(padded), cache

    return forward


@contextlib.contextmanager
def _exact_framewise(module, chunk: int) -> Iterator[None]:
    from diffusers.models.autoencoders.autoencoder_kl_cogvideox import CogVideoXCausalConv3d

    convs = [m for m in module.decoder.modules() if isinstance(m, CogVideoXCausalConv3d) and m.pad_mode == "replicate"]
    for conv in convs:
        conv.forward = _carry_forward(conv)
    try:
        with decode_util.temporary_attributes(module, use_framewise_decoding=True,
                                              num_latent_frames_batch_size=chunk):
            yield
    finally:
        for conv in convs:
            del conv.forward  # back to the class's forward


def decode(vae: DVVAE, latent: dict[str, Any], settings: decode_util.DecodeSettings):
    """As MochiPipeline does after sampling: undo the latents normalisation, then the VAE in one pass, or a
    chunk of latent frames at a time (settings.chunk) with the same result, optionally in spatial tiles."""
    import torch
    from diffusers.video_processor import VideoProcessor

    module = vae.module
    config = module.config
    channels = int(config.latent_channels)
    samples = latent["samples"]
    decode_util.check_latent(vae, samples, channels)
    host.load_to_device([vae.managed])
    latents = samples.to(device=vae.managed.device, dtype=vae.managed.dtype)
    if getattr(config, "latents_mean", None) is not None and getattr(config, "latents_std", None) is not None:
        mean = torch.tensor(config.latents_mean).view(1, channels, 1, 1, 1).to(latents.device, latents.dtype)
        std = torch.tensor(config.latents_std).view(1, channels, 1, 1, 1).to(latents.device, latents.dtype)
        latents = latents * std / config.scaling_factor + mean
    else:
        latents = latents / config.scaling_factor
    spatial = vae.geometry.spatial
    frames = latents.shape[2]
    chunked = 0 < settings.chunk < frames
    framewise = _exact_framewise(module, settings.chunk) if chunked else contextlib.nullcontext()
    with decode_util.temporary_attributes(module, **decode_util.strided_tiling(settings, spatial)), framewise:
        calls = (math.ceil(frames / settings.chunk) if chunked else 1) * decode_util.strided_tile_count(
            module, latents, spatial)
        with decode_util.progress_per_call(module.decoder, calls):
            video = module.decode(latents, return_dict=False)[0]
    return decode_util.to_image(VideoProcessor(vae_scale_factor=spatial), video)
