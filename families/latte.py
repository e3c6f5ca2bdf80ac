"""Latte (Shanghai AI Lab and partners): text-to-video with a T5 encoder, a DiT that alternates spatial and
temporal transformer blocks (LatteTransformer3DModel, 2x2 patches) and Stable Diffusion's image VAE, one frame
at a time.

The frame count is fixed by the transformer: its temporal position embedding covers exactly `video_length`
frames (16 in Latte-1), and a single frame skips it (an image). Prompts are encoded as LattePipeline's
__call__ encodes them by default: cleaned captions, 120 tokens, the embeddings cut to the prompt's own tokens
(mask_feature) and the negative prompt's to as many.
"""

from __future__ import annotations

from typing import Any

from .. import host
from ..errors import DVInputError
from ..model_loaders.components import DVVAE, DVConditioning, DVModel, DVSchedulerSpec, DVTextEncoder
from ..samplers import decode as decode_util
from ..samplers.clip_text import check_length
from ..samplers.pipeline import SampleInputs, SampleParams, assemble, denoisers_loaded, run_denoise
from ..samplers.validate import check_common, check_text_width, require_conditioning
from .spec import Family, FrameRule, LatentGeometry

MAX_TOKENS = 120  # LattePipeline.encode_prompt's fixed max_length, whatever max_sequence_length says
DECODE_CHUNK = 14  # LattePipeline's decode_chunk_size (an image VAE: any chunk gives the same frames)

FAMILY = Family(
    id="latte",
    label="Latte",
    pipeline_classes={"t2v": "LattePipeline"},
    model_classes=("LatteTransformer3DModel",),
    vae_classes=("AutoencoderKL",),  # shared with image models: loaders read the family from the folder
    text_encoder_classes=("T5EncoderModel",),
    # 1 or the transformer's video_length (16 released); the sampler checks the loaded transformer's own. As a
    # rule of the form mk+o this is 15k+1, which the editor's helper snaps to (1, 16, ...).
    frame_rule=FrameRule(multiple=15, offset=1, minimum=1),
    size_multiple=16,  # the VAE's 8x times the 2x2 patches
    pipeline_size_multiple=8,
    geometry=LatentGeometry(spatial=8, temporal=1, channels=4, scaling_factor=0.18215),
    order=48,
    comfy_latent_format="SD15",  # Stable Diffusion's VAE (sd-vae-ft-ema in Latte-1)
    # LattePipeline's defaults: 16 frames ("at 8 frames per seconds" in its docstring), 512x512, guidance 7.5,
    # and the 50 steps of Latte's own t2v sampling config.
    defaults={"num_frames": 16, "fps": 8, "steps": 50, "guidance_scale": 7.5, "width": 512, "height": 512,
              "max_sequence_length": MAX_TOKENS},
    # The diffusers Latte guide (api/pipelines/latte.md) loads the whole pipeline with dtype=torch.float16, and
    # Latte's own sampling config has use_fp16: True.
    component_dtypes={"*": "fp16"},
)

# DDIM with the betas of Latte's own t2v sampling config (0.0001 to 0.02, linear: DDIMScheduler's defaults).
# Used when a model comes without its folder.
DEFAULT_SCHEDULER = DVSchedulerSpec.from_config_dict(
    "DDIMScheduler", {"beta_start": 0.0001, "beta_end": 0.02, "beta_schedule": "linear"}, "Latte default")


def _pipeline_class():
    import diffusers

    return getattr(diffusers, FAMILY.pipeline_classes["t2v"])


def encode(te: DVTextEncoder, prompt: str, negative_prompt: str, max_sequence_length: int,
           truncate: bool) -> DVConditioning:
    """The pipeline's own encode_prompt as its __call__ runs it (clean_caption and mask_feature on). It always
    tokenizes to 120 tokens, so max_sequence_length only matters below that: longer prompts are refused or
    cut at the smaller of the two."""
    if te.tokenizer is None:
        raise DVInputError("text_encoder", "this text encoder came without its tokenizer.",
                           "load it from a diffusers folder that has a tokenizer subfolder.")
    notes = check_length(te.tokenizer, {"prompt": prompt, "negative_prompt": negative_prompt},
                         min(max_sequence_length, MAX_TOKENS), truncate)
    host.load_to_device([te.managed])
    pipe = assemble(_pipeline_class(), tokenizer=te.tokenizer, text_encoder=te.module)
    positive, negative = pipe.encode_prompt(prompt, True, negative_prompt=negative_prompt, device=te.managed.device,
                                            clean_caption=True, mask_feature=True)
    return DVConditioning(FAMILY, prompt, negative_prompt,
                          {"prompt_embeds": positive, "negative_prompt_embeds": negative}, notes)


def _check_vae(vae: DVVAE | None, input_name: str = "vae") -> None:
    if vae is not None and vae.family.id != FAMILY.id:
        raise DVInputError(input_name, f"this is a {vae.family.label} VAE, and the model is {FAMILY.label}.",
                           f"the VAE from the same {FAMILY.label} folder.")


def _check_inputs(model: DVModel, params: SampleParams, inputs: SampleInputs) -> DVConditioning:
    for name in ("image", "video"):
        if getattr(inputs, name) is not None:
            raise DVInputError(name, f"{FAMILY.label} is text-to-video only.", f"disconnect '{name}'.")
    _check_vae(inputs.vae)
    length = int(model.module.config.video_length)
    if params.num_frames not in (1, length):
        raise DVInputError("num_frames", f"{FAMILY.label} cannot produce {params.num_frames} frames: this "
                           f"transformer's temporal position embedding covers exactly {length}.",
                           f"{length} (a video) or 1 (a single image).")
    cond = require_conditioning(model, inputs)
    check_common(model, cond, params, model.geometry.spatial * int(model.module.config.patch_size))
    check_text_width(model, cond, model.module.config.caption_channels, "T5 text encoder")
    return cond


def sample(model: DVModel, scheduler: DVSchedulerSpec, params: SampleParams,
           inputs: SampleInputs) -> dict[str, Any]:
    cond = _check_inputs(model, params, inputs)
    dtype, device = model.managed.dtype, model.managed.device
    call_kwargs: dict[str, Any] = {key: value.to(device=device, dtype=dtype) for key, value in cond.embeds.items()}
    call_kwargs.update(
        negative_prompt=None,  # the embeddings are given (the pipeline's default "" would clash with them)
        height=params.height, width=params.width, video_length=params.num_frames,
        num_inference_steps=params.num_inference_steps, guidance_scale=params.guidance_scale)
    pipe = assemble(_pipeline_class(), model.pipeline_config, transformer=model.module, scheduler=scheduler.create())
    pipe.vae_scale_factor = model.geometry.spatial  # what the pipeline reads from the VAE it is not given
    with denoisers_loaded(model):
        latents = run_denoise(pipe, call_kwargs, params, model.family.comfy_latent_format, lambda x: x)
    return {"samples": latents.to(host.intermediate_device()), "dv_family": FAMILY.id,
            "dv_num_frames": params.num_frames}


def decode(vae: DVVAE, latent: dict[str, Any], settings: decode_util.DecodeSettings):
    """As LattePipeline.decode_latents, in chunks of frames (exact: an image VAE)."""
    _check_vae(vae)
    return decode_util.decode_image_vae(vae, latent, settings.chunk or DECODE_CHUNK, settings)
