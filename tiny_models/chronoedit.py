"""A tiny ChronoEdit folder (as nvidia/ChronoEdit-14B-Diffusers), built offline.

The transformer follows diffusers' test (tests/pipelines/chronoedit/test_chronoedit.py), with the image
cross-attention of the released model (added_kv_proj_dim, as the tiny Wan2.1 I2V model has it, so prompts are
padded to the 512 tokens the attention splits by). Text side, Wan2.1 VAE, CLIPVisionModel and its processor are
the tiny Wan2.1 image-to-video model's. The scheduler is UniPC on flow sigmas: the guide derives its distilled
scheduler from the folder's with `UniPCMultistepScheduler.from_config(pipe.scheduler.config, flow_shift=2.0)`,
and temporal reasoning reaches into a multistep scheduler's `model_outputs`, which FlowMatch Euler lacks.
"""

from __future__ import annotations


def build_chronoedit(dest: str) -> str:
    import torch
    from diffusers import (
        ChronoEditPipeline,
        ChronoEditTransformer3DModel,
        UniPCMultistepScheduler,
        WanImageToVideoPipeline,
    )

    from .cache import tiny_model_path

    wan = WanImageToVideoPipeline.from_pretrained(tiny_model_path("wan_i2v"))
    torch.manual_seed(0)
    transformer = ChronoEditTransformer3DModel(
        patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=12, in_channels=36, out_channels=16,
        text_dim=32, freq_dim=256, ffn_dim=32, num_layers=2, cross_attn_norm=True, qk_norm="rms_norm_across_heads",
        rope_max_seq_len=32, image_dim=4, added_kv_proj_dim=24,
    ).eval()
    scheduler = UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True,
                                        num_train_timesteps=1000, flow_shift=5.0)
    ChronoEditPipeline(
        tokenizer=wan.tokenizer, text_encoder=wan.text_encoder, image_encoder=wan.image_encoder,
        image_processor=wan.image_processor, transformer=transformer, vae=wan.vae, scheduler=scheduler,
    ).save_pretrained(dest, safe_serialization=True)
    return dest


# The tiny models this module builds, for cache.tiny_model_path: name -> builder function.
TINY_MODELS = {"chronoedit": "build_chronoedit"}
