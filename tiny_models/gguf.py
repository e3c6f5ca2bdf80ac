"""Tiny GGUF transformers: diffusers folders whose DiT is wide enough to quantize, and the writer of GGUF files
in the original (non-diffusers) key layouts that ComfyUI users download (city96's GGUF conversions keep the
original names, and diffusers' from_single_file converts them).

Each layer a GGUF file quantizes holds rows of whole blocks: 32 values for Q8_0/Q4_0/Q5_0, a 256-value
super-block for the K-quants. The regular tiny models are 24-32 wide, so these folders reuse their text
side, VAE and scheduler with a 256-wide transformer. The `gguf` package quantizes Q4_0/Q5_0/Q8_0 but only
dequantizes K-quants: a K-quant file is written from random valid blocks (its weights are what the blocks
decode to, not an approximation of the fp32 model).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

WIDE = 256  # heads x head dim of the wide transformers: one K-quant super-block per row
# Quant types tests write, and what each row is made of (values per block).
QUANTIZED = ("Q8_0", "Q4_0", "Q5_0")  # quantized from the fp32 weights by the gguf package
K_QUANTS = ("Q4_K", "Q6_K")  # random valid blocks


def _wide_wan(seed: int):
    import torch
    from diffusers import WanTransformer3DModel

    torch.manual_seed(seed)
    return WanTransformer3DModel(
        patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=WIDE // 2, in_channels=16, out_channels=16,
        text_dim=32, freq_dim=256, ffn_dim=WIDE, num_layers=2, cross_attn_norm=True,
        qk_norm="rms_norm_across_heads", rope_max_seq_len=32,
    ).eval()


def _wide_wan_vace():
    import torch
    from diffusers import WanVACETransformer3DModel

    torch.manual_seed(0)
    return WanVACETransformer3DModel(
        patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=WIDE // 2, in_channels=16, out_channels=16,
        text_dim=32, freq_dim=256, ffn_dim=WIDE, num_layers=3, cross_attn_norm=True,
        qk_norm="rms_norm_across_heads", rope_max_seq_len=32, vace_layers=[0, 2], vace_in_channels=96,
    ).eval()


def _wide_skyreels_v2_df():
    """As the released DF-1.3B, with inject_sample_info: its fps layers are the keys only SkyReels-V2 has."""
    import torch
    from diffusers import SkyReelsV2Transformer3DModel

    torch.manual_seed(0)
    return SkyReelsV2Transformer3DModel(
        patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=WIDE // 2, in_channels=16, out_channels=16,
        text_dim=32, freq_dim=256, ffn_dim=WIDE, num_layers=2, cross_attn_norm=True,
        qk_norm="rms_norm_across_heads", rope_max_seq_len=32, inject_sample_info=True,
    ).eval()


def _wide_ltx():
    import torch
    from diffusers import LTXVideoTransformer3DModel

    torch.manual_seed(0)
    return LTXVideoTransformer3DModel(
        in_channels=8, out_channels=8, patch_size=1, patch_size_t=1, num_attention_heads=2,
        attention_head_dim=WIDE // 2, cross_attention_dim=WIDE, num_layers=1, caption_channels=32,
    ).eval()


def _wide_hunyuanvideo():
    import torch
    from diffusers import HunyuanVideoTransformer3DModel

    torch.manual_seed(0)
    # No single-stream blocks: diffusers' converter splits their fused linear1 at the released 3072 width.
    return HunyuanVideoTransformer3DModel(
        in_channels=16, out_channels=16, num_attention_heads=2, attention_head_dim=WIDE // 2, num_layers=1,
        num_single_layers=0, num_refiner_layers=1, patch_size=2, patch_size_t=1, guidance_embeds=True,
        text_embed_dim=16, pooled_projection_dim=8, rope_axes_dim=(16, 56, 56),
    ).eval()


MOCHI_LAYERS = 48  # diffusers' Mochi converter walks exactly the released model's 48 blocks


def _mochi_48():
    import torch
    from diffusers import MochiTransformer3DModel

    torch.manual_seed(0)
    return MochiTransformer3DModel(
        patch_size=2, num_attention_heads=2, attention_head_dim=16, num_layers=MOCHI_LAYERS,
        pooled_projection_dim=32, in_channels=12, out_channels=None, qk_norm="rms_norm", text_embed_dim=32,
        time_embed_dim=4, activation_fn="swiglu", max_sequence_length=16,
    ).eval()


def _with_transformers(base: str, dest: str, **denoisers: Any) -> str:
    """The tiny `base` folder's pipeline with its denoiser(s) replaced (and pipeline config such as
    boundary_ratio), saved to dest."""
    from diffusers import DiffusionPipeline

    from .cache import tiny_model_path

    pipe = DiffusionPipeline.from_pretrained(tiny_model_path(base))
    type(pipe)(**{**pipe.components, **denoisers}).save_pretrained(dest, safe_serialization=True)
    return dest


def build_wan_gguf(dest: str) -> str:
    return _with_transformers("wan", dest, transformer=_wide_wan(0))


def build_wan22_a14b_gguf(dest: str) -> str:
    return _with_transformers("wan", dest, transformer=_wide_wan(0), transformer_2=_wide_wan(1),
                              boundary_ratio=0.875)


def build_wan_vace_gguf(dest: str) -> str:
    return _with_transformers("wan_vace", dest, transformer=_wide_wan_vace())


def build_skyreels_v2_df_gguf(dest: str) -> str:
    return _with_transformers("skyreels_v2_df", dest, transformer=_wide_skyreels_v2_df())


def build_ltx_gguf(dest: str) -> str:
    return _with_transformers("ltx", dest, transformer=_wide_ltx())


def build_hunyuanvideo_gguf(dest: str) -> str:
    return _with_transformers("hunyuanvideo", dest, transformer=_wide_hunyuanvideo())


def build_mochi_gguf(dest: str) -> str:
    return _with_transformers("mochi", dest, transformer=_mochi_48())


TINY_MODELS = {"wan_gguf": "build_wan_gguf", "wan22_a14b_gguf": "build_wan22_a14b_gguf",
               "ltx_gguf": "build_ltx_gguf", "hunyuanvideo_gguf": "build_hunyuanvideo_gguf",
               "mochi_gguf": "build_mochi_gguf", "wan_vace_gguf": "build_wan_vace_gguf",
               "skyreels_v2_df_gguf": "build_skyreels_v2_df_gguf"}


# ------------------------------------------------------------------------ original key layouts


def _ltx_to_original(state: dict[str, Any]) -> dict[str, Any]:
    renames = (("proj_in", "patchify_proj"), ("time_embed", "adaln_single"), ("norm_q", "q_norm"),
               ("norm_k", "k_norm"))
    out = {}
    for key, value in state.items():
        for new, old in renames:
            key = key.replace(new, old)
        out[key] = value
    return out


def _swap_halves(tensor):
    import torch

    first, second = tensor.chunk(2, dim=0)
    return torch.cat([second, first], dim=0)


def _mochi_to_original(state: dict[str, Any]) -> dict[str, Any]:
    import torch

    s = dict(state)
    out = {
        "x_embedder.proj.weight": s.pop("patch_embed.proj.weight"),
        "x_embedder.proj.bias": s.pop("patch_embed.proj.bias"),
        "t5_yproj.weight": s.pop("time_embed.caption_proj.weight"),
        "t5_yproj.bias": s.pop("time_embed.caption_proj.bias"),
        "final_layer.mod.weight": _swap_halves(s.pop("norm_out.linear.weight")),
        "final_layer.mod.bias": _swap_halves(s.pop("norm_out.linear.bias")),
        "final_layer.linear.weight": s.pop("proj_out.weight"), "final_layer.linear.bias": s.pop("proj_out.bias"),
        "pos_frequencies": s.pop("pos_frequencies"),
    }
    for i, old in ((1, "mlp.0"), (2, "mlp.2")):
        for p in ("weight", "bias"):
            out[f"t_embedder.{old}.{p}"] = s.pop(f"time_embed.timestep_embedder.linear_{i}.{p}")
    for name in ("to_kv", "to_q", "to_out"):
        for p in ("weight", "bias"):
            out[f"t5_y_embedder.{name}.{p}"] = s.pop(f"time_embed.pooler.{name}.{p}")
    for i in range(MOCHI_LAYERS):
        n, o = f"transformer_blocks.{i}.", f"blocks.{i}."
        last = i == MOCHI_LAYERS - 1
        for p in ("weight", "bias"):
            out[f"{o}mod_x.{p}"] = s.pop(f"{n}norm1.linear.{p}")
            out[f"{o}mod_y.{p}"] = s.pop(f"{n}norm1_context.{'linear_1' if last else 'linear'}.{p}")
            out[f"{o}attn.proj_x.{p}"] = s.pop(f"{n}attn1.to_out.0.{p}")
            if not last:
                out[f"{o}attn.proj_y.{p}"] = s.pop(f"{n}attn1.to_add_out.{p}")
        out[f"{o}attn.qkv_x.weight"] = torch.cat([s.pop(f"{n}attn1.to_{x}.weight") for x in "qkv"])
        out[f"{o}attn.qkv_y.weight"] = torch.cat([s.pop(f"{n}attn1.add_{x}_proj.weight") for x in "qkv"])
        for old, new in (("q_norm_x", "norm_q"), ("k_norm_x", "norm_k"), ("q_norm_y", "norm_added_q"),
                         ("k_norm_y", "norm_added_k")):
            out[f"{o}attn.{old}.weight"] = s.pop(f"{n}attn1.{new}.weight")
        out[f"{o}mlp_x.w1.weight"] = _swap_halves(s.pop(f"{n}ff.net.0.proj.weight"))
        out[f"{o}mlp_x.w2.weight"] = s.pop(f"{n}ff.net.2.weight")
        if not last:
            out[f"{o}mlp_y.w1.weight"] = _swap_halves(s.pop(f"{n}ff_context.net.0.proj.weight"))
            out[f"{o}mlp_y.w2.weight"] = s.pop(f"{n}ff_context.net.2.weight")
    if s:
        raise AssertionError(f"Mochi keys without an original name: {sorted(s)[:5]}")
    return out


# diffusers name -> original name, applied in order to the keys of the double-stream blocks and embedders of
# HunyuanVideo (the inverse of convert_hunyuan_video_transformer_to_diffusers' renames).
_HUNYUAN_TO_ORIGINAL = (
    ("x_embedder", "img_in"),
    ("time_text_embed.timestep_embedder.linear_1", "time_in.mlp.0"),
    ("time_text_embed.timestep_embedder.linear_2", "time_in.mlp.2"),
    ("time_text_embed.guidance_embedder.linear_1", "guidance_in.mlp.0"),
    ("time_text_embed.guidance_embedder.linear_2", "guidance_in.mlp.2"),
    ("time_text_embed.text_embedder.linear_1", "vector_in.in_layer"),
    ("time_text_embed.text_embedder.linear_2", "vector_in.out_layer"),
    ("transformer_blocks", "double_blocks"),
    ("attn.norm_q", "img_attn_q_norm"),
    ("attn.norm_k", "img_attn_k_norm"),
    ("attn.to_out.0", "img_attn_proj"),
    ("attn.norm_added_q", "txt_attn_q_norm"),
    ("attn.norm_added_k", "txt_attn_k_norm"),
    ("attn.to_add_out", "txt_attn_proj"),
    ("norm1.linear", "img_mod.linear"),
    ("norm1_context.linear", "txt_mod.linear"),
    ("norm2_context", "txt_norm2"),
    ("norm2", "img_norm2"),
    ("ff_context.net.0.proj", "txt_mlp.fc1"),
    ("ff_context.net.2", "txt_mlp.fc2"),
    ("ff.net.0.proj", "img_mlp.fc1"),
    ("ff.net.2", "img_mlp.fc2"),
    ("norm_out.norm", "final_layer.norm_final"),
    ("proj_out", "final_layer.linear"),
)
_HUNYUAN_REFINER_TO_ORIGINAL = (
    ("context_embedder.token_refiner.refiner_blocks", "txt_in.individual_token_refiner.blocks"),
    ("context_embedder.time_text_embed.timestep_embedder.linear_1", "txt_in.t_embedder.mlp.0"),
    ("context_embedder.time_text_embed.timestep_embedder.linear_2", "txt_in.t_embedder.mlp.2"),
    ("context_embedder.time_text_embed.text_embedder", "txt_in.c_embedder"),
    ("context_embedder.proj_in", "txt_in.input_embedder"),
    ("norm_out.linear", "adaLN_modulation.1"),
    ("attn.to_out.0", "self_attn_proj"),
    ("norm.norm", "pre_norm"),  # not present: refiner blocks have norm1/norm2
    ("ff.net.0.proj", "mlp.fc1"),
    ("ff.net.2", "mlp.fc2"),
)


def _hunyuan_to_original(state: dict[str, Any]) -> dict[str, Any]:
    import torch

    s = dict(state)
    out: dict[str, Any] = {}
    for key in [k for k in s if ".attn.to_q." in k or ".attn.add_q_proj." in k]:
        fused = "img_attn_qkv" if ".to_q." in key else "txt_attn_qkv"
        parts = [s.pop(key.replace("to_q", f"to_{x}").replace("add_q_proj", f"add_{x}_proj")) for x in "qkv"]
        if key.startswith("context_embedder."):
            fused = "self_attn_qkv"
        target = key.replace("attn.to_q", fused).replace("attn.add_q_proj", fused)
        out[_hunyuan_key(target)] = torch.cat(parts)
    for key in list(s):
        if key.startswith("norm_out.linear."):
            scale, shift = s.pop(key).chunk(2, dim=0)
            out[key.replace("norm_out.linear", "final_layer.adaLN_modulation.1")] = torch.cat([shift, scale])
    for key, value in s.items():
        out[_hunyuan_key(key)] = value
    return out


def _hunyuan_key(key: str) -> str:
    table = _HUNYUAN_REFINER_TO_ORIGINAL if key.startswith("context_embedder.") else _HUNYUAN_TO_ORIGINAL
    for new, old in table:
        key = key.replace(new, old)
    return key


def _wan_to_original(state: dict[str, Any]) -> dict[str, Any]:
    from .single_file import _wan_key_to_original

    return {_wan_key_to_original(k): v for k, v in state.items()}


def _wan_vace_to_original(state: dict[str, Any]) -> dict[str, Any]:
    """VACE blocks' before_proj/after_proj (diffusers' proj_in/proj_out), named before Wan's renames turn
    proj_out into the head's name."""
    def vace(key: str) -> str:
        if key.startswith("vace_blocks."):
            key = key.replace(".proj_in.", ".before_proj.").replace(".proj_out.", ".after_proj.")
        return key

    return _wan_to_original({vace(k): v for k, v in state.items()})


# SkyReels-V2's own keys (its conversion script's renames, reversed); the rest is Wan's layout.
_SKYREELS_TO_ORIGINAL = (("fps_projection.net.0.proj.", "fps_projection.0."),
                         ("fps_projection.net.2.", "fps_projection.2."),
                         ("condition_embedder.image_embedder.pos_embed", "img_emb.emb_pos"))


def _skyreels_to_original(state: dict[str, Any]) -> dict[str, Any]:
    def own(key: str) -> str:
        for new, old in _SKYREELS_TO_ORIGINAL:
            key = key.replace(new, old)
        return key

    return _wan_to_original({own(k): v for k, v in state.items()})


def _skyreels_from_original(checkpoint: dict[str, Any]) -> dict[str, Any]:
    """The pack's load path: the SkyReels-V2 family's renames, then the Wan converter diffusers applies."""
    from diffusers.loaders.single_file_utils import convert_wan_transformer_to_diffusers

    from ..families.skyreels_v2 import FAMILY
    from ..model_loaders.single_file import rename_keys

    return convert_wan_transformer_to_diffusers(rename_keys(checkpoint, FAMILY.single_file_key_renames))


# diffusers class -> (to the original layout, diffusers' converter back, GGUF architecture name city96 uses).
LAYOUTS: dict[str, tuple[Callable[[dict], dict], str, str]] = {
    "WanTransformer3DModel": (_wan_to_original, "convert_wan_transformer_to_diffusers", "wan"),
    "LTXVideoTransformer3DModel": (_ltx_to_original, "convert_ltx_transformer_checkpoint_to_diffusers", "ltxv"),
    "HunyuanVideoTransformer3DModel": (_hunyuan_to_original, "convert_hunyuan_video_transformer_to_diffusers",
                                       "hyvid"),
    "MochiTransformer3DModel": (_mochi_to_original, "convert_mochi_transformer_checkpoint_to_diffusers", "mochi"),
    "WanVACETransformer3DModel": (_wan_vace_to_original, "convert_wan_transformer_to_diffusers", "wan"),
    # diffusers' Wan converter alone drops SkyReels-V2's fps keys: checked against the pack's path instead.
    "SkyReelsV2Transformer3DModel": (_skyreels_to_original, "_skyreels_from_original", "wan"),
}


def original_state_dict(module) -> tuple[dict[str, Any], str]:
    """(state dict in the original key layout, GGUF architecture name) of a diffusers transformer; checked to
    round-trip through diffusers' own converter, so a change there shows here."""
    from diffusers.loaders import single_file_utils

    to_original, converter, arch = LAYOUTS[type(module).__name__]
    state = {k: v.detach().float().contiguous() for k, v in module.state_dict().items()}
    original = to_original(state)
    convert = globals()[converter] if converter.startswith("_") else getattr(single_file_utils, converter)
    back = convert({k: v.clone() for k, v in original.items()})
    missing = set(back) ^ set(state)
    wrong = [k for k in state if k in back and not (back[k].shape == state[k].shape and (back[k] == state[k]).all())]
    if missing or wrong:
        raise AssertionError(f"{type(module).__name__} key inversion does not round-trip: "
                             f"{sorted(missing)[:5]} {wrong[:5]}")
    return original, arch


# ------------------------------------------------------------------------------------ GGUF files


def _random_k_blocks(qtype, rows: int, cols: int, seed: int):
    """Random quants in valid blocks whose weights are centred and kaiming-sized (about +-0.06): fp16 scale
    fields of random bytes would be NaN/inf or huge, and Q4_K's all-positive quants need their offset."""
    import gguf
    import numpy as np

    block, size = gguf.GGML_QUANT_SIZES[qtype]
    rng = np.random.default_rng(seed)
    blocks = rng.integers(0, 256, size=(rows * cols // block, size), dtype=np.uint8)
    d = (rng.uniform(0.5, 1.5, size=blocks.shape[0]) * 1e-3).astype(np.float16)
    if qtype.name == "Q4_K":  # d, dmin (fp16), 12 bytes of 6-bit scales and mins, 128 bytes of 4-bit quants
        # Every sub-block scale 8 and min 15 (packed as get_scale_min reads them): weight = 8d*q - 15*dmin,
        # q in 0..15, centred by dmin = 4d.
        blocks[:, 0:2] = d.view(np.uint8).reshape(-1, 2)
        blocks[:, 2:4] = (d * np.float16(4)).view(np.uint8).reshape(-1, 2)
        blocks[:, 4:8], blocks[:, 8:12], blocks[:, 12:16] = 8, 15, 8 | (15 << 4)
    else:  # Q6_K: 6-bit quants (q - 32), 16 int8 scales, d last: weight = d * scale * (q - 32)
        blocks[:, size - 18:size - 2] = rng.integers(-2, 3, size=(blocks.shape[0], 16)).astype(np.int8).view(np.uint8)
        blocks[:, size - 2:] = d.view(np.uint8).reshape(-1, 2)
    return blocks.reshape(rows, cols // block * size)


def write_gguf(state: dict[str, Any], path: str, quant: str, arch: str, seed: int = 0) -> dict[str, int]:
    """state (original layout, fp32) as a GGUF file of one quant type: every 2-D weight whose rows are whole
    blocks in `quant`, the rest (norms, biases, convolutions, narrow rows) in F32, as city96's converter keeps
    them in full precision. Returns {'quantized': n tensors, 'bytes': tensor bytes, 'fp32_bytes': ...}."""
    import gguf
    import numpy as np

    qtype = gguf.GGMLQuantizationType[quant]
    block, _ = gguf.GGML_QUANT_SIZES[qtype]
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    writer = gguf.GGUFWriter(path, arch)
    quantized = stored = full = 0
    for i, (name, tensor) in enumerate(sorted(state.items())):
        array = tensor.detach().float().cpu().numpy()
        full += array.nbytes
        if name.endswith(".weight") and array.ndim == 2 and array.shape[1] % block == 0:
            if quant in K_QUANTS:
                data = _random_k_blocks(qtype, array.shape[0], array.shape[1], seed + i)
            else:
                data = gguf.quants.quantize(array, qtype)
            writer.add_tensor(name, data, raw_dtype=qtype)
            quantized += 1
            stored += data.nbytes
        else:
            writer.add_tensor(name, np.ascontiguousarray(array, dtype=np.float32))
            stored += array.nbytes
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return {"quantized": quantized, "bytes": stored, "fp32_bytes": full}


def write_transformer_gguf(folder: str, path: str, quant: str, subfolder: str = "transformer") -> dict[str, int]:
    """The transformer of a tiny diffusers folder as a GGUF file of one quant type in its original layout."""
    from diffusers import AutoModel

    module = AutoModel.from_pretrained(folder, subfolder=subfolder)
    original, arch = original_state_dict(module)
    return write_gguf(original, path, quant, arch, seed=0 if subfolder == "transformer" else 1000)


def write_t5_encoder_gguf(folder: str, path: str, quant: str = "Q8_0") -> dict[str, int]:
    """A tiny diffusers folder's T5/UMT5 text encoder as a GGUF file the way llama.cpp names T5 encoders
    (architecture t5encoder, `enc.blk.N.*` tensors; general.name says umt5 for UMT5, as transformers reads it)."""
    import gguf
    import numpy as np
    from transformers import AutoConfig, T5EncoderModel, UMT5EncoderModel
    from transformers.modeling_gguf_pytorch_utils import T5TensorProcessor, get_gguf_hf_weights_map

    config = AutoConfig.from_pretrained(folder, subfolder="text_encoder")
    cls = UMT5EncoderModel if config.model_type == "umt5" else T5EncoderModel
    model = cls.from_pretrained(folder, subfolder="text_encoder").eval()
    names = get_gguf_hf_weights_map(model, T5TensorProcessor(config), model_type="t5", num_layers=config.num_layers)
    qtype = gguf.GGMLQuantizationType[quant]
    block, _ = gguf.GGML_QUANT_SIZES[qtype]
    writer = gguf.GGUFWriter(path, "t5encoder")
    writer.add_name(f"{config.model_type}-tiny")
    for key, value in (("context_length", 512), ("block_count", config.num_layers),
                       ("feed_forward_length", config.d_ff), ("embedding_length", config.d_model),
                       ("attention.key_length", config.d_kv), ("attention.value_length", config.d_kv),
                       ("attention.head_count", config.num_heads), ("attention.head_count_kv", config.num_heads),
                       ("attention.relative_buckets_count", config.relative_attention_num_buckets),
                       ("vocab_size", config.vocab_size)):
        writer.add_uint32(f"t5encoder.{key}", value)
    writer.add_float32("t5encoder.attention.layer_norm_epsilon", config.layer_norm_epsilon)
    state = model.state_dict()
    quantized = 0
    for gguf_name, hf_name in sorted(names.items()):
        array = state[hf_name].float().numpy()
        # llama.cpp keeps the embedding and relative position tables in full precision too
        full = "rel_b" in gguf_name or "token_embd" in gguf_name
        if array.ndim == 2 and array.shape[1] % block == 0 and not full:
            writer.add_tensor(gguf_name, gguf.quants.quantize(array, qtype), raw_dtype=qtype)
            quantized += 1
        else:
            writer.add_tensor(gguf_name, np.ascontiguousarray(array))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return {"quantized": quantized}
