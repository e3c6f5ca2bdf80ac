"""Working memory of a denoiser run, estimated from the latent shape, for ComfyUI's `memory_required`.

The memory manager frees the model's size plus `memory_required` before it loads a model; without it ComfyUI
reserves nothing for a video DiT's activations and keeps the text encoders resident. The estimate counts the
activations alive at once inside one block, per token, from the model's config:
- DiTs: tokens = latent frames x height x width over the patch size; per token a few hidden-width tensors
  (query, key, value, attention output, residual) and the feed-forward's inner width. Attention runs through
  SDPA, whose memory-efficient and flash kernels keep no tokens x tokens matrix.
- UNets: every latent pixel of every frame at the first block's width, a few tensors deep (the widest layers).
The factors are deliberately round; benchmarks/gpu_check.py records the measured peak beside the plan's
prediction on a real GPU, which is where they get checked.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

# Hidden-width tensors alive at once in a DiT block: q, k, v, attention output, the residual stream, a norm
# output, and a spare for the kernels' workspace. The feed-forward's inner activations are counted apart.
DIT_HIDDEN_TENSORS = 7
FFN_TENSORS = 2  # the inner projection and its activation
# Tensors of the first block's width per latent pixel alive at once in a video UNet (resnet in/out, norms,
# attention q/k/v/out, skip connections kept for the up path).
UNET_TENSORS = 24


def _patch(config: Mapping[str, Any]) -> tuple[int, int, int]:
    patch = config.get("patch_size", 1) or 1
    if isinstance(patch, Sequence):  # Wan: (t, h, w)
        return int(patch[0]), int(patch[1]), int(patch[2])
    return int(config.get("patch_size_t", 1) or 1), int(patch), int(patch)


def tokens(config: Mapping[str, Any], latent_shape: Sequence[int]) -> int:
    """Sequence length of a DiT for latents [C, F, H, W]."""
    _, frames, height, width = (int(n) for n in latent_shape[-4:])
    pt, ph, pw = _patch(config)
    return math.ceil(frames / pt) * math.ceil(height / ph) * math.ceil(width / pw)


def working_bytes(config: Mapping[str, Any], latent_shape: Sequence[int], batch: int, dtype_bytes: int) -> int:
    """Bytes of activations one forward of the denoiser holds at its peak, for `batch` samples (2 when the
    pipeline batches the conditional and unconditional passes), plus the latents of the run in fp32."""
    latents = batch * math.prod(int(n) for n in latent_shape[-4:]) * 4 * 4  # latents, noise pred, x0, next step
    if "block_out_channels" in config:  # a UNet
        _, frames, height, width = (int(n) for n in latent_shape[-4:])
        width0 = int(config["block_out_channels"][0])
        return batch * frames * height * width * width0 * dtype_bytes * UNET_TENSORS + latents
    heads = int(config.get("num_attention_heads", 0) or 0)
    head_dim = int(config.get("attention_head_dim", 0) or 0)
    hidden = heads * head_dim or int(config.get("hidden_size", 0) or 0)
    inner = int(config.get("ffn_dim", 0) or 0) or 4 * hidden
    per_token = (DIT_HIDDEN_TENSORS * hidden + FFN_TENSORS * inner) * dtype_bytes
    return batch * tokens(config, latent_shape) * per_token + latents


def cfg_batch(guidance_scale: float, batched_cfg: bool) -> int:
    """How many samples one forward carries: guidance's two passes run as one batch where the pipeline does so."""
    return 2 if guidance_scale > 1.0 and batched_cfg else 1


# Bytes of decoder activations per output pixel at the widest layers (128-512 channels at full resolution, a
# few live at once): samplers/decode_auto.py sizes its first chunk with the same figure.
DECODE_BYTES_PER_PIXEL = 4096


def decode_bytes(latent_shape: Sequence[int], spatial: int, temporal: int, chunk: int = 0, tile: int = 0) -> int:
    """Working memory of a VAE decode of latents [..., F, H, W]: the output pixels of one call (`chunk` latent
    frames, 0 = all; one `tile` x `tile` pixel tile when tiling, 0 = untiled) at DECODE_BYTES_PER_PIXEL."""
    frames, height, width = (int(n) for n in latent_shape[-3:])
    frames = min(frames, chunk) if chunk > 0 else frames
    pixels = height * spatial * width * spatial
    if tile > 0:
        pixels = min(pixels, tile * tile)
    return max(1, temporal) * frames * pixels * DECODE_BYTES_PER_PIXEL
