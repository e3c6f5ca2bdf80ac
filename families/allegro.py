"""Allegro (Rhymes AI): text-to-video with a T5 encoder, a DiT with 3D rotary positions
(AllegroTransformer3DModel, 2x2 patches) and a 3D VAE (AutoencoderKLAllegro: 8x in space, 4x in time).

The VAE decodes only in fixed tiles: sample_size pixels square (320 released) by 24 frames, stepping 16
frames, sample_size - 120 rows and sample_size - 80 columns, blended where they overlap. AllegroPipeline
accepts any multiple of 8, but whatever the tiles do not reach comes out black (a video below one tile is
black throughout), so sizes and frame counts are checked against that grid: 88 frames at 720x1280, the
release's default, fits exactly. Frames: 24 + 16k. Sizes for the released VAE: heights 320 + 400k (320, 720,
1120, ...; every other row step, for the 2x2 patches), widths 320 + 240k (320, 560, 800, 1040, 1280, ...). The
sampler checks against the grid of the VAE wired into it, else the released VAE's; DVVAEDecode checks the
latent against its own VAE before decoding.
"""

from __future__ import annotations

from typing import Any

from .. import host
from ..errors import DVInputError
from ..model_loaders.components import DVVAE, DVConditioning, DVModel, DVSchedulerSpec, DVTextEncoder
from ..samplers import decode as decode_util
from ..samplers.clip_text import T5_EMBED_KEYS, check_length
from ..samplers.pipeline import SampleInputs, SampleParams, assemble, denoisers_loaded, run_denoise
from ..samplers.validate import check_common, check_text_width, require_conditioning
from .spec import Family, FrameRule, LatentGeometry

FAMILY = Family(
    id="allegro",
    label="Allegro",
    pipeline_classes={"t2v": "AllegroPipeline"},
    model_classes=("AllegroTransformer3DModel",),
    vae_classes=("AutoencoderKLAllegro",),
    text_encoder_classes=("T5EncoderModel",),
    # The VAE's temporal tiles: 24 frames every 16 (6 latent frames every 4), so 24 + 16k frames decode whole.
    frame_rule=FrameRule(multiple=16, offset=8, minimum=24),
    size_multiple=16,  # the VAE's 8x times the DiT's 2x2 patches; the tile grid narrows it further (above)
    pipeline_size_multiple=8,
    geometry=LatentGeometry(spatial=8, temporal=4, channels=4, scaling_factor=0.13),
    order=47,
    # The diffusers example: 88 frames at 720x1280 (the transformer's sample size), guidance 7.5, the pipeline's
    # 100 steps and 512 tokens, exported at 15 fps.
    defaults={"num_frames": 88, "fps": 15, "steps": 100, "guidance_scale": 7.5, "width": 1280, "height": 720,
              "max_sequence_length": 512},
    # The AllegroPipeline example loads `AutoencoderKLAllegro.from_pretrained(..., torch_dtype=torch.float32)` and
    # the rest in bfloat16; Allegro's own inference script: "vae have better formance in float32".
    component_dtypes={"vae": "fp32"},
)

# Allegro's own inference script (single_inference*.py in rhymes-ai/Allegro) builds EulerAncestralDiscreteScheduler()
# with its defaults. Used when a model comes without its folder.
DEFAULT_SCHEDULER = DVSchedulerSpec.from_config_dict("EulerAncestralDiscreteScheduler", {}, "Allegro default")

# AutoencoderKLAllegro's tiles, fixed in its __init__ whatever the config: 24 frames with 8 overlapping, and
# 120 rows / 80 columns of overlap; the tile's width and height are the config's sample_size.
TILE_FRAMES, OVERLAP_FRAMES, OVERLAP_ROWS, OVERLAP_COLUMNS = 24, 8, 120, 80
RELEASED_SAMPLE_SIZE = 320  # rhymes-ai/Allegro's vae/config.json (and the class default)
PATCH = 2


def _pipeline_class():
    import diffusers

    return getattr(diffusers, FAMILY.pipeline_classes["t2v"])


def encode(te: DVTextEncoder, prompt: str, negative_prompt: str, max_sequence_length: int,
           truncate: bool) -> DVConditioning:
    """The pipeline's own encode_prompt, with the caption cleaning its __call__ does by default (clean_caption:
    without beautifulsoup4 installed, diffusers lower-cases and strips instead, in both)."""
    if te.tokenizer is None:
        raise DVInputError("text_encoder", "this text encoder came without its tokenizer.",
                           "load it from a diffusers folder that has a tokenizer subfolder.")
    notes = check_length(te.tokenizer, {"prompt": prompt, "negative_prompt": negative_prompt},
                         max_sequence_length, truncate)
    host.load_to_device([te.managed])
    pipe = assemble(_pipeline_class(), tokenizer=te.tokenizer, text_encoder=te.module)
    outputs = pipe.encode_prompt(prompt, True, negative_prompt=negative_prompt, device=te.managed.device,
                                 clean_caption=True, max_sequence_length=max_sequence_length)
    return DVConditioning(FAMILY, prompt, negative_prompt, dict(zip(T5_EMBED_KEYS, outputs, strict=True)), notes)


def tile_grid(sample_size: int, spatial: int) -> dict[str, tuple[int, int]]:
    """(tile, step) in latent pixels per axis ("frames", "height", "width") for a VAE of this sample_size and
    spatial factor, as AutoencoderKLAllegro.tiled_decode computes them (temporal factor 4)."""
    return {"frames": (TILE_FRAMES // 4, (TILE_FRAMES - OVERLAP_FRAMES) // 4),
            "height": (sample_size // spatial, (sample_size - OVERLAP_ROWS) // spatial),
            "width": (sample_size // spatial, (sample_size - OVERLAP_COLUMNS) // spatial)}


def _covered(n: int, tile: int, step: int) -> bool:
    return step > 0 and n >= tile and (n - tile) % step == 0


def _valid_pixels(tile: int, step: int, spatial: int, upto: int) -> list[int]:
    """Pixel sizes whose latent is covered by whole tiles and splits into the DiT's patches."""
    found, n = [], tile
    while n * spatial <= upto:
        if n % PATCH == 0:
            found.append(n * spatial)
        n += step
    return found


def _check_size_grid(width: int, height: int, sample_size: int, spatial: int, wired: bool) -> None:
    grid = tile_grid(sample_size, spatial)
    for name, value in (("width", width), ("height", height)):
        tile, step = grid[name]
        valid = _valid_pixels(tile, step, spatial, max(value, tile * spatial) + 8 * tile * spatial)
        if value in valid:
            continue
        below = [v for v in valid if v < value][-1:]
        above = [v for v in valid if v > value][:1]
        nearest = " or ".join(str(v) for v in below + above)
        raise DVInputError(
            name, f"{value} pixels is not a whole number of the {'wired' if wired else 'released'} {FAMILY.label} "
            f"VAE's decoding tiles ({tile * spatial}-pixel tiles every {step * spatial} pixels along the {name}, in "
            "whole 2x2 patches); what they leave out would decode black."
            + ("" if wired else " (No VAE is wired into DVSampler, so the released VAE's grid applies.)"),
            f"{', '.join(str(v) for v in valid[:5])}, ...; nearest: {nearest}.")


def _check_vae(vae: DVVAE | None, input_name: str = "vae") -> None:
    if vae is not None and vae.family.id != FAMILY.id:
        raise DVInputError(input_name, f"this is a {vae.family.label} VAE, and the model is {FAMILY.label}.",
                           f"the VAE from the same {FAMILY.label} folder.")


def _check_inputs(model: DVModel, params: SampleParams, inputs: SampleInputs) -> DVConditioning:
    for name in ("image", "video"):
        if getattr(inputs, name) is not None:
            raise DVInputError(name, f"{FAMILY.label} is text-to-video only.", f"disconnect '{name}'.")
    _check_vae(inputs.vae)
    cond = require_conditioning(model, inputs)
    check_common(model, cond, params, model.geometry.spatial * int(model.module.config.patch_size))
    if inputs.vae is not None:
        _check_size_grid(params.width, params.height, int(inputs.vae.module.config.sample_size),
                         inputs.vae.geometry.spatial, wired=True)
    else:
        _check_size_grid(params.width, params.height, RELEASED_SAMPLE_SIZE, model.geometry.spatial,
                         wired=False)
    check_text_width(model, cond, model.module.config.caption_channels, "T5 text encoder")
    return cond


def sample(model: DVModel, scheduler: DVSchedulerSpec, params: SampleParams,
           inputs: SampleInputs) -> dict[str, Any]:
    cond = _check_inputs(model, params, inputs)
    dtype, device = model.managed.dtype, model.managed.device
    call_kwargs: dict[str, Any] = {
        key: value.to(device=device, dtype=dtype if value.is_floating_point() else value.dtype)
        for key, value in cond.embeds.items()}
    call_kwargs.update(
        negative_prompt=None,  # the embeddings are given (the pipeline's default "" would clash with them)
        height=params.height, width=params.width, num_frames=params.num_frames,
        num_inference_steps=params.num_inference_steps, guidance_scale=params.guidance_scale)
    pipe = assemble(_pipeline_class(), model.pipeline_config, transformer=model.module, scheduler=scheduler.create())
    # Geometry the pipeline reads from the VAE, which sampling does not need.
    pipe.vae_scale_factor_spatial = model.geometry.spatial
    pipe.vae_scale_factor_temporal = model.geometry.temporal
    with denoisers_loaded(model):
        latents = run_denoise(pipe, call_kwargs, params, model.family.comfy_latent_format, lambda x: x)
    return {"samples": latents.to(host.intermediate_device()), "dv_family": FAMILY.id,
            "dv_num_frames": params.num_frames}


def decode(vae: DVVAE, latent: dict[str, Any], settings: decode_util.DecodeSettings):
    """As AllegroPipeline decodes: unscale, then the VAE's tiled decode, the only one it has (its tiles and
    overlaps are fixed, so DVVAEDecode's chunk and tile settings do not apply), one tile per decoder call."""
    from diffusers.video_processor import VideoProcessor

    _check_vae(vae)
    module = vae.module
    samples = latent["samples"]
    decode_util.check_latent(vae, samples, int(module.config.latent_channels))
    grid = tile_grid(int(module.config.sample_size), vae.geometry.spatial)
    tiles = 1
    for axis, n in zip(("frames", "height", "width"), samples.shape[2:], strict=True):
        tile, step = grid[axis]
        if not _covered(int(n), tile, step):
            raise DVInputError("samples", f"the latent's {n} {axis} (latent) are not a whole number of this VAE's "
                               f"decoding tiles ({tile} every {step}); what they leave out would decode black.",
                               "sample at a size and frame count DVSampler accepts with this VAE wired in.")
        tiles *= (int(n) - tile) // step + 1
    host.load_to_device([vae.managed])
    latents = samples.to(device=vae.managed.device, dtype=vae.managed.dtype) / module.config.scaling_factor
    with decode_util.temporary_attributes(module, use_tiling=True), \
            decode_util.progress_per_call(module.decoder, tiles):
        video = module.decode(latents).sample.permute(0, 2, 1, 3, 4)  # [B, C, F, H, W]
    frames = int(latent.get("dv_num_frames") or video.shape[2])
    return decode_util.to_image(VideoProcessor(vae_scale_factor=vae.geometry.spatial), video[:, :, :frames])
