"""Tiny Sana-Video folders (as Efficient-Large-Model/SANA-Video_2B_480p_diffusers), built offline.

Configs follow diffusers' own tests (tests/pipelines/sana_video/test_sana_video.py and test_sana_video_i2v.py):
a Gemma2 text encoder, the Wan2.1 VAE and a SanaVideoTransformer3DModel, with sample_size 30 as the released
480p transformer has it. The text-to-video folder's scheduler is the one diffusers' conversion script saves by
default (DPM-Solver++ on flow sigmas, flow_shift 8.0); the image-to-video folder is the same model saved as a
SanaImageToVideoPipeline with the scheduler the script requires for image-to-video (FlowMatch Euler, shift 8.0).

The Gemma tokenizer is trained here (sentencepiece BPE with byte fallback, Gemma's special-token ids: pad 0,
eos 1, bos 2, unk 3, mask 4), on the shared generated corpus plus the pipeline's complex human instruction, so
that instruction, which the pipeline prepends to every prompt, is whole words rather than bytes.
"""

from __future__ import annotations

import os

FLOW_SHIFT = 8.0  # scripts/convert_sana_video_to_diffusers.py: flow_shift = 8.0 for every scheduler type


def _complex_human_instruction() -> list[str]:
    import inspect

    from diffusers import SanaVideoPipeline

    return list(inspect.signature(SanaVideoPipeline.__call__).parameters["complex_human_instruction"].default)


def build_gemma_tokenizer(out_dir: str, vocab_size: int = 600) -> str:
    """A GemmaTokenizer (BPE with byte fallback, bos added, right padding as the pipeline sets it)."""
    import sentencepiece as spm
    from transformers import GemmaTokenizer
    from transformers.convert_slow_tokenizer import SentencePieceExtractor

    from .tokenizers import corpus

    os.makedirs(out_dir, exist_ok=True)
    text_path = os.path.join(out_dir, "corpus.txt")
    with open(text_path, "w", encoding="utf-8") as f:
        f.write("\n".join(corpus() + _complex_human_instruction()))
    prefix = os.path.join(out_dir, "gemma")
    spm.SentencePieceTrainer.train(
        input=text_path, model_prefix=prefix, vocab_size=vocab_size, model_type="bpe", byte_fallback=True,
        pad_id=0, eos_id=1, bos_id=2, unk_id=3, user_defined_symbols=["<mask>"],
        pad_piece="<pad>", eos_piece="<eos>", bos_piece="<bos>", unk_piece="<unk>",
        normalization_rule_name="identity", remove_extra_whitespaces=False, add_dummy_prefix=False,
        split_digits=True, character_coverage=1.0, num_threads=1, shuffle_input_sentence=False, minloglevel=2,
        hard_vocab_limit=False,
    )
    parts = SentencePieceExtractor(prefix + ".model").extract(None)
    parts.pop("_spm_precompiled_charsmap", None)
    for leftover in (text_path, prefix + ".model", prefix + ".vocab"):
        os.remove(leftover)
    tokenizer = GemmaTokenizer(vocab=parts["vocab"], merges=parts["merges"], add_bos_token=True,
                               add_eos_token=False, padding_side="right")
    tokenizer.save_pretrained(out_dir)
    return out_dir


def build_sana_video(dest: str) -> str:
    import tempfile

    import torch
    from diffusers import AutoencoderKLWan, DPMSolverMultistepScheduler, SanaVideoPipeline, SanaVideoTransformer3DModel
    from transformers import Gemma2Config, Gemma2Model, GemmaTokenizer

    with tempfile.TemporaryDirectory() as tmp:
        tokenizer = GemmaTokenizer.from_pretrained(build_gemma_tokenizer(os.path.join(tmp, "tokenizer")))
    torch.manual_seed(0)
    vae = AutoencoderKLWan(base_dim=3, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1,
                           temperal_downsample=[False, True, True]).eval()
    torch.manual_seed(0)
    text_encoder = Gemma2Model(Gemma2Config(
        head_dim=16, hidden_size=8, initializer_range=0.02, intermediate_size=64, max_position_embeddings=8192,
        model_type="gemma2", num_attention_heads=2, num_hidden_layers=1, num_key_value_heads=2,
        vocab_size=len(tokenizer), attn_implementation="eager",
    )).eval()
    torch.manual_seed(0)
    transformer = SanaVideoTransformer3DModel(
        in_channels=16, out_channels=16, num_attention_heads=2, attention_head_dim=12, num_layers=2,
        num_cross_attention_heads=2, cross_attention_head_dim=12, cross_attention_dim=24, caption_channels=8,
        mlp_ratio=2.5, dropout=0.0, attention_bias=False, sample_size=30, patch_size=(1, 2, 2),
        norm_elementwise_affine=False, norm_eps=1e-6, qk_norm="rms_norm_across_heads", rope_max_seq_len=32,
    ).eval()
    scheduler = DPMSolverMultistepScheduler(flow_shift=FLOW_SHIFT, use_flow_sigmas=True,
                                            prediction_type="flow_prediction")
    SanaVideoPipeline(tokenizer=tokenizer, text_encoder=text_encoder, vae=vae, transformer=transformer,
                      scheduler=scheduler).save_pretrained(dest, safe_serialization=True)
    return dest


def build_sana_video_i2v(dest: str) -> str:
    """The tiny text-to-video model saved as a SanaImageToVideoPipeline folder with FlowMatch Euler (shift 8)."""
    from diffusers import FlowMatchEulerDiscreteScheduler, SanaImageToVideoPipeline, SanaVideoPipeline

    from .cache import tiny_model_path

    t2v = SanaVideoPipeline.from_pretrained(tiny_model_path("sana_video"))
    SanaImageToVideoPipeline(tokenizer=t2v.tokenizer, text_encoder=t2v.text_encoder, vae=t2v.vae,
                             transformer=t2v.transformer, scheduler=FlowMatchEulerDiscreteScheduler(shift=FLOW_SHIFT),
                             ).save_pretrained(dest, safe_serialization=True)
    return dest


# The tiny models this module builds, for cache.tiny_model_path: name -> builder function.
TINY_MODELS = {"sana_video": "build_sana_video", "sana_video_i2v": "build_sana_video_i2v"}
