"""What every family's VAE decode shares: settings, temporary VAE switches, per-chunk progress, and the
conversion to ComfyUI IMAGE frames."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from .. import host
from ..errors import DVInputError


@dataclass(frozen=True)
class DecodeSettings:
    chunk: int = 0  # latent frames per decoder call; 0 = the VAE's own default
    tiling: bool = False
    tile_sample_size: int = 0  # pixels; 0 = the VAE's own default
    tile_overlap: float = 0.0  # fraction of a tile; 0 = the VAE's own default


@contextlib.contextmanager
def temporary_attributes(obj: Any, **values: Any) -> Iterator[None]:
    """Set attributes for one decode and restore them: the VAE object is shared by every branch of the
    graph and cached across queue runs, so one node's chunking must not leak into another's."""
    old = {name: getattr(obj, name) for name in values}
    for name, value in values.items():
        setattr(obj, name, value)
    try:
        yield
    finally:
        for name, value in old.items():
            setattr(obj, name, value)


@contextlib.contextmanager
def progress_per_call(module, total: int) -> Iterator[host.Progress]:
    """Tick the progress bar once per forward call of `module` (one call per chunk or tile).

    A forward hook, because the chunk loop lives inside the diffusers VAE and has no callback of its own.
    """
    progress = host.Progress(total, desc="decoding")

    def tick(*_: Any) -> None:  # a hook that returned a value would replace the module's output
        progress.update(1)

    handle = module.register_forward_hook(tick)
    try:
        yield progress
    finally:
        handle.remove()
        progress.close()


def tile_count(vae, z) -> int:
    """How many spatial tiles a diffusers tiled_decode will make of z ([B, C, F, H, W] latents)."""
    height, width = z.shape[-2:]
    if width <= vae.tile_latent_min_width and height <= vae.tile_latent_min_height:
        return 1
    step_h = max(int(vae.tile_latent_min_height * (1 - vae.tile_overlap_factor_height)), 1)
    step_w = max(int(vae.tile_latent_min_width * (1 - vae.tile_overlap_factor_width)), 1)
    return math.ceil(height / step_h) * math.ceil(width / step_w)


def consistent_tile(spatial: int, tile_px: int, overlap: float) -> tuple[int, int, float]:
    """Snap a requested tile size (pixels) and overlap (fraction) to values the diffusers tiled decoders
    handle without changing the output size: (tile in pixels, tile in latent pixels, overlap factor).

    Those decoders step through the latent by int(tile_latent * (1 - f)) and crop each decoded tile to
    tile_px - int(tile_px * f); the two only agree when the overlap is a whole number of latent pixels and
    the float arithmetic lands on it, so candidates are checked with the very same expressions.
    """
    tile_latent = max(tile_px // spatial, 2)
    tile_px = tile_latent * spatial
    wanted = min(max(round(tile_latent * overlap), 1), tile_latent - 1)
    for latent_overlap in sorted(range(1, tile_latent), key=lambda o: abs(o - wanted)):
        factor = latent_overlap / tile_latent
        for candidate in (factor, math.nextafter(factor, 1.0), math.nextafter(factor, 0.0)):
            step = int(tile_latent * (1 - candidate))
            crop = tile_px - int(tile_px * candidate)
            if step == tile_latent - latent_overlap and crop == step * spatial:
                return tile_px, tile_latent, candidate
    raise ValueError(f"no consistent overlap for a {tile_px}px tile")


def check_latent(vae, samples, channels: int) -> None:
    if samples.ndim != 5:
        raise DVInputError("samples", f"got a {samples.ndim}-D latent; video latents are [B, C, F, H, W].",
                           "the LATENT output of DVSampler.")
    if samples.shape[1] != channels:
        raise DVInputError("vae", f"the latent has {samples.shape[1]} channels, but this {vae.family.label} "
                           f"VAE works on {channels}.", "the VAE from the same folder as the model that sampled it.")


def to_image(video_processor, video):
    """[B, C, F, H, W] in -1..1 -> ComfyUI IMAGE [B*F, H, W, C] in 0..1 on the intermediate device,
    through the pipeline's own VideoProcessor so the frames equal the reference pipeline's output."""
    frames = video_processor.postprocess_video(video=video, output_type="pt")  # [B, F, C, H, W]
    _, _, channels, height, width = frames.shape
    frames = frames.permute(0, 1, 3, 4, 2).reshape(-1, height, width, channels)
    return frames.float().to(host.intermediate_device())


def decode_framewise(vae, latents, chunk: int, settings: DecodeSettings):
    """Decode [B, C, F, H, W] latents with an image VAE (AutoencoderKL) a chunk of frames at a time, as the
    SD-based video pipelines (ModelScope, AnimateDiff, ...) do. Frames are independent in an image VAE, so
    any chunk size gives the same frames as one pass. Returns [B, C', F, H', W'] like decode_latents."""
    import torch

    module = vae.module
    batch, channels, frames, height, width = latents.shape
    flat = latents.permute(0, 2, 1, 3, 4).reshape(batch * frames, channels, height, width)
    chunk = chunk or flat.shape[0]
    overrides: dict[str, Any] = {"use_tiling": settings.tiling}
    if settings.tiling and (settings.tile_sample_size or settings.tile_overlap):
        spatial = 2 ** (len(module.config.block_out_channels) - 1)
        tile_px, tile_latent, factor = consistent_tile(
            spatial, settings.tile_sample_size or module.tile_sample_min_size,
            settings.tile_overlap or module.tile_overlap_factor)
        overrides.update(tile_sample_min_size=tile_px, tile_latent_min_size=tile_latent, tile_overlap_factor=factor)
    pieces = []
    with temporary_attributes(module, **overrides), progress_per_call(module.decoder, math.ceil(len(flat) / chunk)):
        for start in range(0, flat.shape[0], chunk):
            pieces.append(module.decode(flat[start:start + chunk]).sample)
    images = torch.cat(pieces)
    return images[None, :].reshape((batch, frames, -1) + images.shape[2:]).permute(0, 2, 1, 3, 4).float()


def strided_tiling(settings: DecodeSettings, spatial: int) -> dict[str, Any]:
    """VAE attributes for the stride-based tiled decoders (Wan, LTX, HunyuanVideo, Mochi): tile and stride
    in pixels, both whole latent pixels, the stride leaving `tile_overlap` of a tile to blend."""
    overrides: dict[str, Any] = {"use_tiling": settings.tiling}
    if settings.tiling and settings.tile_sample_size:
        tile = max(settings.tile_sample_size // spatial, 2) * spatial
        stride = max(round(tile * (1 - (settings.tile_overlap or 0.25)) / spatial), 1) * spatial
        overrides.update(tile_sample_min_height=tile, tile_sample_min_width=tile,
                         tile_sample_stride_height=min(stride, tile), tile_sample_stride_width=min(stride, tile))
    return overrides


def strided_tile_count(vae, latents, spatial: int) -> int:
    """Tiles a stride-based tiled decode makes of [B, C, F, H, W] latents (1 when it does not tile)."""
    height, width = latents.shape[-2:]
    if not vae.use_tiling or (width <= vae.tile_sample_min_width // spatial
                              and height <= vae.tile_sample_min_height // spatial):
        return 1
    rows = math.ceil(height / max(vae.tile_sample_stride_height // spatial, 1))
    cols = math.ceil(width / max(vae.tile_sample_stride_width // spatial, 1))
    return rows * cols


def decode_image_vae(vae, latent: dict[str, Any], chunk: int, settings: DecodeSettings,
                     do_resize: bool = True):
    """The SD-based video pipelines' decode_latents: unscale, then the image VAE on `chunk` frames per call
    (each frame decodes on its own, so the chunk size trades memory for speed only), then 0..1 frames."""
    from diffusers.video_processor import VideoProcessor

    samples = latent["samples"]
    check_latent(vae, samples, int(vae.module.config.latent_channels))
    host.load_to_device([vae.managed])
    latents = 1 / vae.module.config.scaling_factor * samples.to(device=vae.managed.device, dtype=vae.managed.dtype)
    video = decode_framewise(vae, latents, chunk, settings)
    return to_image(VideoProcessor(do_resize=do_resize, vae_scale_factor=vae.geometry.spatial), video)
