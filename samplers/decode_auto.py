"""DVVAEDecode's "auto" memory mode: chunk size from free memory, and on out-of-memory a retry with smaller
chunks and then spatial tiles, before failing with what was tried."""

from __future__ import annotations

import traceback
from collections.abc import Callable
from typing import Any

from .. import host
from ..errors import DVInputError
from ..memory.estimate import DECODE_BYTES_PER_PIXEL
from .decode import DecodeSettings

# Deliberately high: a too-small first chunk costs time, a too-big one a retry.
ACTIVATION_BYTES_PER_PIXEL = DECODE_BYTES_PER_PIXEL
TILE_LADDER = (0, 256, 192, 128)  # 0: the VAE's own tile size


def first_chunk(samples, spatial: int, temporal: int, free_bytes: int) -> int:
    latent_frames, height, width = (int(n) for n in samples.shape[2:5])
    per_latent_frame = max(1, temporal) * height * spatial * width * spatial * ACTIVATION_BYTES_PER_PIXEL
    return max(1, min(latent_frames, free_bytes // per_latent_frame))


def ladder(chunk: int) -> list[DecodeSettings]:
    """The settings to try, largest first: halving chunks untiled, then tiles ever smaller one frame at a time."""
    tried: list[DecodeSettings] = []
    while True:
        tried.append(DecodeSettings(chunk, False, 0, 0.0))
        if chunk <= 1:
            break
        chunk = max(1, chunk // 2)
    tried.extend(DecodeSettings(1, True, tile, 0.0) for tile in TILE_LADDER)
    return tried


def describe(settings: DecodeSettings) -> str:
    tiles = f", tiles {settings.tile_sample_size or 'default'} px" if settings.tiling else ""
    return f"chunk {settings.chunk}{tiles}"


def decode(vae, samples: dict[str, Any], decode_fn: Callable[[DecodeSettings], Any]):
    geometry = vae.geometry
    free = host.free_memory_bytes(vae.managed.device)
    chunk = first_chunk(samples["samples"], geometry.spatial, geometry.temporal, free)
    tried = []
    for settings in ladder(chunk):
        try:
            return decode_fn(settings)
        except Exception as error:  # noqa: BLE001 - only out-of-memory errors are retried; the rest re-raise
            if not host.is_out_of_memory(error):
                raise
            # The failed attempt's tensors live on in its frames' locals, which the traceback holds.
            traceback.clear_frames(error.__traceback__)
            tried.append(describe(settings))
        # Outside the except block the exception and its traceback are gone, so the cache can really empty.
        host.soft_empty_cache()
    from ..video_io.latent_file import rescue

    # The sampling is not lost with the decode: the latent goes to the output folder, and the message says where.
    raise DVInputError("memory", f"out of memory in every attempt ({'; '.join(tried)}), starting from "
                       f"{free / 2**30:.1f} GiB free. {rescue(samples, host.output_directory())}",
                       "free memory (unload other models, e.g. the Free model and node cache button), fewer frames "
                       "or a smaller size.")
