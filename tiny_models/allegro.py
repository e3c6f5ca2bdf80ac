"""A tiny Allegro folder (as rhymes-ai/Allegro), built offline.

The transformer and the T5 encoder follow diffusers' own test (tests/pipelines/allegro/test_allegro.py): a
one-layer AllegroTransformer3DModel over 4 latent channels and a 24-wide, 2-layer T5; the tokenizer is trained
here. The VAE keeps the test's blocks (four, 8 channels: 8x spatial, 4x temporal as released) but not its
sample_size: AutoencoderKLAllegro decodes only in tiles of sample_size pixels x 24 frames, and the test's
(the released 320) leaves its 16x16 video outside every tile, all zeros. A 128-pixel tile is the smallest
whose stride (sample_size - 120 rows) is a whole latent pixel, so the tiny video is one 128x128x24 tile.
The scheduler is the one Allegro's own inference script builds: EulerAncestralDiscreteScheduler().
"""

from __future__ import annotations

import os
import tempfile

TILE = 128  # pixels: the VAE's sample_size


def build_allegro(dest: str) -> str:
    import torch
    from diffusers import (
        AllegroPipeline,
        AllegroTransformer3DModel,
        AutoencoderKLAllegro,
        EulerAncestralDiscreteScheduler,
    )
    from transformers import T5Config, T5EncoderModel, T5Tokenizer

    from .tokenizers import build_t5_tokenizer

    with tempfile.TemporaryDirectory() as tmp:
        tokenizer = T5Tokenizer.from_pretrained(build_t5_tokenizer(os.path.join(tmp, "tokenizer")))
    torch.manual_seed(0)
    transformer = AllegroTransformer3DModel(
        num_attention_heads=2, attention_head_dim=12, in_channels=4, out_channels=4, num_layers=1,
        cross_attention_dim=24, sample_width=8, sample_height=8, sample_frames=8, caption_channels=24,
    ).eval()
    torch.manual_seed(0)
    vae = AutoencoderKLAllegro(
        in_channels=3, out_channels=3, down_block_types=("AllegroDownBlock3D",) * 4,
        up_block_types=("AllegroUpBlock3D",) * 4, block_out_channels=(8, 8, 8, 8), latent_channels=4,
        layers_per_block=1, norm_num_groups=2, temporal_compression_ratio=4, sample_size=TILE,
    ).eval()
    torch.manual_seed(0)
    text_encoder = T5EncoderModel(T5Config(
        d_ff=37, d_kv=8, d_model=24, num_decoder_layers=2, num_heads=4, num_layers=2,
        relative_attention_num_buckets=8, vocab_size=len(tokenizer),
    )).eval()
    AllegroPipeline(tokenizer=tokenizer, text_encoder=text_encoder, vae=vae, transformer=transformer,
                    scheduler=EulerAncestralDiscreteScheduler()).save_pretrained(dest, safe_serialization=True)
    return dest


# The tiny models this module builds, for cache.tiny_model_path: name -> builder function.
TINY_MODELS = {"allegro": "build_allegro"}
