"""A tiny I2VGen-XL folder (as ali-vilab/i2vgen-xl), built offline.

Configs follow diffusers' own test (tests/pipelines/i2vgen_xl), except: the VAE has four blocks so the latent
is 8x smaller than the frames, as in the real model; the text and image encoders are 32 wide (the UNet's
cross-attention width, which both must match); the CLIP image encoder takes 224x224 images as the real one
does, with 32-pixel patches to stay small; and the scheduler is the released model's (v-prediction).
"""

from __future__ import annotations

import os
import tempfile


def build_i2vgenxl(dest: str) -> str:
    import torch
    from diffusers import AutoencoderKL, DDIMScheduler, I2VGenXLPipeline, I2VGenXLUNet
    from transformers import (
        CLIPImageProcessor,
        CLIPTextConfig,
        CLIPTextModel,
        CLIPTokenizer,
        CLIPVisionConfig,
        CLIPVisionModelWithProjection,
    )

    from .tokenizers import build_clip_tokenizer

    with tempfile.TemporaryDirectory() as tmp:
        tokenizer = CLIPTokenizer.from_pretrained(build_clip_tokenizer(os.path.join(tmp, "tokenizer")))
    torch.manual_seed(0)
    unet = I2VGenXLUNet(
        block_out_channels=(8, 16), layers_per_block=1, sample_size=32, in_channels=4, out_channels=4,
        down_block_types=("CrossAttnDownBlock3D", "DownBlock3D"), up_block_types=("UpBlock3D", "CrossAttnUpBlock3D"),
        cross_attention_dim=32, attention_head_dim=4, num_attention_heads=None, norm_num_groups=2,
    ).eval()
    torch.manual_seed(0)
    vae = AutoencoderKL(
        block_out_channels=(8, 8, 8, 8), in_channels=3, out_channels=3, down_block_types=["DownEncoderBlock2D"] * 4,
        up_block_types=["UpDecoderBlock2D"] * 4, latent_channels=4, sample_size=128, norm_num_groups=2,
    ).eval()
    torch.manual_seed(0)
    text_encoder = CLIPTextModel(CLIPTextConfig(
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
        hidden_size=32, intermediate_size=37, layer_norm_eps=1e-05, num_attention_heads=4, num_hidden_layers=2,
        vocab_size=len(tokenizer), projection_dim=32, hidden_act="gelu",
    )).eval()
    torch.manual_seed(0)
    image_encoder = CLIPVisionModelWithProjection(CLIPVisionConfig(
        hidden_size=32, projection_dim=32, num_hidden_layers=2, num_attention_heads=4, image_size=224,
        intermediate_size=37, patch_size=32)).eval()
    feature_extractor = CLIPImageProcessor(crop_size=224, size=224)
    scheduler = DDIMScheduler(beta_start=0.0001, beta_end=0.02, beta_schedule="squaredcos_cap_v2", clip_sample=False,
                              prediction_type="v_prediction", rescale_betas_zero_snr=True, set_alpha_to_one=True,
                              steps_offset=1, timestep_spacing="leading")
    I2VGenXLPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, image_encoder=image_encoder,
                     feature_extractor=feature_extractor, unet=unet,
                     scheduler=scheduler).save_pretrained(dest, safe_serialization=True)
    return dest


# The tiny models this module builds, for cache.tiny_model_path: name -> builder function.
TINY_MODELS = {"i2vgenxl": "build_i2vgenxl"}
