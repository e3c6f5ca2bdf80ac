"""GGUF transformers in diffusion_models/: written here in the original key layouts (as city96's conversions
keep them), detected from their tensors and loaded quantized through diffusers' GGUF quantizer.

Checks per family and quant type: the node graph's frames equal the same graph on the folder's model with the
file's weights dequantized (the loading path is exact), the quantization error against the fp32 folder, and
the bytes the memory manager sees. Run with -s for the table of figures."""

from __future__ import annotations

import os

import pytest
import torch
from diffusers_video.errors import DVInputError
from diffusers_video.nodes.loaders import DVModelLoader, DVPipelineLoader
from diffusers_video.nodes.sampling import DVSampler, DVTextEncode
from diffusers_video.nodes.vae import DVVAEDecode

pytest.importorskip("gguf")

PROMPT = "a lighthouse in a storm"
QUANTS = ("Q8_0", "Q4_0", "Q5_0", "Q4_K", "Q6_K")
# family -> (tiny folder builder, installed name, width, height, frames, steps, guidance, max_sequence_length)
RUNS = {
    "wan": ("wan_gguf", "tiny-wan-gguf", 32, 32, 5, 2, 1.0, 512),
    "ltx": ("ltx_gguf", "tiny-ltx-gguf", 32, 32, 9, 2, 1.0, 128),  # guidance 1: no CFG pass, faster
    "hunyuanvideo": ("hunyuanvideo_gguf", "tiny-hunyuanvideo-gguf", 32, 32, 5, 1, 6.0, 32),
    "mochi": ("mochi_gguf", "tiny-mochi-gguf", 32, 32, 7, 2, 1.0, 32),  # 2 steps: diffusers divides by 0 at 1
    "wan_vace": ("wan_vace_gguf", "tiny-wan-vace-gguf", 32, 32, 5, 2, 1.0, 512),
    # diffusion forcing with fps conditioning (as DF-1.3B): the layers only SkyReels-V2 files have
    "skyreels_v2": ("skyreels_v2_df_gguf", "tiny-skyreels-v2-df-gguf", 32, 32, 5, 2, 1.0, 512),
}
# The diffusers class each family's file must load as (SkyReels-V2 files are detected as Wan by diffusers).
CLASSES = {"wan_vace": "WanVACETransformer3DModel", "skyreels_v2": "SkyReelsV2Transformer3DModel"}
FIGURES: dict[tuple[str, str], dict[str, float]] = {}


def module_bytes(module) -> int:
    """What ComfyUI's ModelPatcher counts (model_management.module_size: the state dict's tensors)."""
    return sum(t.nelement() * t.element_size() for t in module.state_dict().values())


@pytest.fixture(scope="module")
def folders(tiny_models_dir):
    from diffusers_video.tiny_models.cache import install_into_models_dir

    out = {fam: install_into_models_dir(tiny_models_dir, builder, name) for fam, (builder, name, *_) in RUNS.items()}
    out["wan22"] = install_into_models_dir(tiny_models_dir, "wan22_a14b_gguf", "tiny-wan22-gguf")
    return out


def gguf_file(tiny_models_dir, folder: str, name: str, quant: str, subfolder: str = "transformer") -> str:
    from diffusers_video.tiny_models.gguf import write_transformer_gguf

    path = os.path.join(tiny_models_dir, "diffusion_models", f"{name}_{quant}.gguf")
    if not os.path.isfile(path):
        write_transformer_gguf(folder, path, quant, subfolder)
    return os.path.basename(path)


_BASES: dict[str, tuple] = {}


def base(family: str):
    """(folder model, vae, conditioning, fp32 frames) of a family's tiny GGUF folder, loaded once: the model
    is the parity reference, its weights replaced by each file's dequantized ones in turn."""
    if family not in _BASES:
        name, max_len = RUNS[family][1], RUNS[family][7]
        with torch.inference_mode():
            model, vae, text_encoder, _ = DVPipelineLoader().load(name, "fp32")
            (cond,) = DVTextEncode().encode(text_encoder, PROMPT, "", max_len, True)
        _BASES[family] = (model, vae, cond, frames(family, model, vae, cond))
    return _BASES[family]


def frames(family: str, model, vae, cond):
    _, _, w, h, f, steps, guidance, _ = RUNS[family]
    wired = {"vae": vae} if family == "wan_vace" else {}  # VACE encodes its (blank) conditioning video
    with torch.inference_mode():
        (latent,) = DVSampler().sample(model, w, h, f, steps, guidance, 3, conditioning=cond, **wired)
        return DVVAEDecode().decode(vae, latent, 0, "off", 0, 0.0)[0]


def dequantized(module) -> dict[str, torch.Tensor]:
    """The module's weights as its GGUF layers compute with them (diffusers' own dequantization)."""
    from diffusers.quantizers.gguf.utils import dequantize_gguf_tensor

    return {k: dequantize_gguf_tensor(v).float() if hasattr(v, "quant_type") else v.float()
            for k, v in module.state_dict().items()}


def check_graph(tiny_models_dir, folders, family: str, quant: str) -> dict[str, float]:
    """GGUF graph vs the folder's graph with the dequantized weights, and vs the fp32 folder."""
    name = RUNS[family][1]
    file = gguf_file(tiny_models_dir, folders[family], family, quant)
    reference, vae, cond, fp32_frames = base(family)
    with torch.inference_mode():
        (quantized,) = DVModelLoader().load(file, "fp32", name)
    assert quantized.family.id == reference.family.id
    assert quantized.family.variant == reference.family.variant
    assert type(quantized.module) is type(reference.module)
    if family in CLASSES:
        assert type(quantized.module).__name__ == CLASSES[family]
    layers = [m for m in quantized.module.modules() if type(m).__name__ == "GGUFLinear"]
    assert layers, "no layer was loaded quantized"
    gguf_frames = frames(family, quantized, vae, cond)
    with torch.inference_mode():  # the loaders ran there: their tensors are inference tensors
        fp32_bytes = module_bytes(reference.module)
        reference.module.load_state_dict(dequantized(quantized.module))
    same_weights = frames(family, reference, vae, cond)
    figures = {
        "parity": (gguf_frames - same_weights).abs().max().item(),
        "vs_fp32": (gguf_frames - fp32_frames).abs().max().item(),
        "file_bytes": os.path.getsize(os.path.join(tiny_models_dir, "diffusion_models", file)),
        "memory_bytes": module_bytes(quantized.module),
        "fp32_bytes": fp32_bytes,
        "gguf_layers": len(layers),
    }
    FIGURES[(family, quant)] = figures
    print(f"\n{family} {quant}: {figures}")
    assert figures["parity"] <= 1e-5
    assert figures["memory_bytes"] < figures["fp32_bytes"]
    return figures


# ------------------------------------------------------------------------------------------- Wan2.1


@pytest.mark.parametrize("quant", QUANTS)
def test_wan_gguf_graph_equals_the_dequantized_model(tiny_models_dir, folders, quant):
    figures = check_graph(tiny_models_dir, folders, "wan", quant)
    if quant in ("Q8_0", "Q4_0", "Q5_0"):  # quantized from the fp32 weights: close to them, Q8_0 closest
        assert 0 < figures["vs_fp32"] < 0.5


def test_quantization_error_shrinks_with_bits(tiny_models_dir, folders):
    for quant in ("Q8_0", "Q5_0", "Q4_0"):
        if ("wan", quant) not in FIGURES:
            check_graph(tiny_models_dir, folders, "wan", quant)
    error = {q: FIGURES[("wan", q)]["vs_fp32"] for q in ("Q8_0", "Q5_0", "Q4_0")}
    assert error["Q8_0"] < error["Q5_0"] < error["Q4_0"], error


@pytest.mark.parametrize("family", ["wan", "wan_vace", "skyreels_v2"])
def test_memory_manager_sees_the_quantized_size(tiny_models_dir, folders, family):
    """Every layer that stays quantized holds exactly the file's bytes for it; the manager's size (the state
    dict's bytes, as ModelPatcher and memory/plan.measure count them) is what the file stores, plus the
    layers diffusers keeps in fp32 (dequantized at load)."""
    from diffusers.quantizers.gguf.utils import GGUFParameter
    from diffusers_video.memory.plan import measure
    from diffusers_video.tiny_models.gguf import LAYOUTS
    from gguf import GGUFReader

    file = gguf_file(tiny_models_dir, folders[family], family, "Q4_0")
    stored = {t.name: int(t.n_bytes) for t in GGUFReader(os.path.join(tiny_models_dir, "diffusion_models",
                                                                       file)).tensors}
    with torch.inference_mode():
        (model,) = DVModelLoader().load(file, "fp32", RUNS[family][1])
    to_original = LAYOUTS[type(model.module).__name__][0]
    state = model.module.state_dict()
    expected = 0
    for key, value in state.items():
        if isinstance(value, GGUFParameter):
            assert value.nbytes == stored[next(iter(to_original({key: value})))], key
            expected += value.nbytes
        else:
            expected += value.nelement() * value.element_size()
    assert module_bytes(model.module) == expected
    # memory/plan.measure also counts the buffers a state dict leaves out (rope tables), quantized or not
    unsaved = sum(b.nbytes for b in model.module.buffers()) - sum(
        v.nbytes for k, v in state.items() if k not in dict(model.module.named_parameters()))
    assert measure(model.module, file).total == expected + unsaved
    quantized = sum(v.nbytes for v in state.values() if isinstance(v, GGUFParameter))
    assert quantized > 0.5 * expected  # the attention and FFN layers dominate, as in the released models
    assert model.managed.dtype == torch.float32  # the compute dtype, not the uint8 blocks


def test_diffusers_dequantizes_like_the_gguf_package(tiny_models_dir, folders):
    """diffusers' torch port multiplies by the fp16 scales in fp16, gguf's numpy in fp32: their weights differ
    by fp16 rounding, which is why the parity reference is diffusers' own dequantization."""
    import gguf
    import numpy as np
    from diffusers.quantizers.gguf.utils import GGUFParameter, dequantize_gguf_tensor

    for quant in QUANTS:
        path = os.path.join(tiny_models_dir, "diffusion_models", gguf_file(tiny_models_dir, folders["wan"], "wan",
                                                                            quant))
        worst = 0.0
        for tensor in gguf.GGUFReader(path).tensors:
            if tensor.tensor_type.name != quant:
                continue
            ours = dequantize_gguf_tensor(GGUFParameter(torch.from_numpy(np.array(tensor.data)),
                                                        quant_type=tensor.tensor_type)).float()
            theirs = torch.from_numpy(gguf.quants.dequantize(np.array(tensor.data), tensor.tensor_type))
            assert ours.shape == theirs.shape
            worst = max(worst, (ours - theirs).abs().max().item())
            scale = theirs.abs().max().item()
        print(f"\n{quant}: diffusers vs gguf dequantization, max abs diff {worst:.2e} (weights up to {scale:.3f})")
        assert worst <= 2e-3 * scale  # a few fp16 rounding steps at the largest weight


# ------------------------------------------------------------------------------------- Wan2.2 A14B


def test_wan22_two_gguf_experts(tiny_models_dir, folders):
    high = gguf_file(tiny_models_dir, folders["wan22"], "wan22_high", "Q8_0", "transformer")
    low = gguf_file(tiny_models_dir, folders["wan22"], "wan22_low", "Q8_0", "transformer_2")
    with torch.inference_mode():
        reference, vae, text_encoder, _ = DVPipelineLoader().load("tiny-wan22-gguf", "fp32")
        (cond,) = DVTextEncode().encode(text_encoder, PROMPT, "", RUNS["wan"][7], True)
        (model,) = DVModelLoader().load(high, "fp32", "tiny-wan22-gguf", model_2=low)
    assert model.family.variant == "wan2.2-a14b" and model.pipeline_config["boundary_ratio"] == 0.875
    second = model.more_denoisers["transformer_2"].module
    assert any(type(m).__name__ == "GGUFLinear" for m in second.modules())
    got = frames("wan", model, vae, cond)
    with torch.inference_mode():
        reference.module.load_state_dict(dequantized(model.module))
        reference.more_denoisers["transformer_2"].module.load_state_dict(dequantized(second))
    diff = (got - frames("wan", reference, vae, cond)).abs().max().item()
    print(f"\nwan2.2 A14B Q8_0 (both experts): parity {diff:.2e}")
    assert diff <= 1e-5


# ----------------------------------------------------------------------------- LTX, Hunyuan, Mochi


@pytest.mark.parametrize("family,quant", [("ltx", "Q8_0"), ("ltx", "Q4_K"), ("hunyuanvideo", "Q5_0"),
                                          ("hunyuanvideo", "Q6_K"), ("mochi", "Q8_0")])
def test_other_families_gguf_graph_equals_the_dequantized_model(tiny_models_dir, folders, family, quant):
    check_graph(tiny_models_dir, folders, family, quant)


# ----------------------------------------------------------------------------- Wan VACE, SkyReels-V2


@pytest.mark.parametrize("family,quant", [("wan_vace", "Q8_0"), ("wan_vace", "Q4_K"), ("skyreels_v2", "Q8_0"),
                                          ("skyreels_v2", "Q6_K")])
def test_wan_layout_variants_gguf_graph_equals_the_dequantized_model(tiny_models_dir, folders, family, quant):
    """A VACE file loads as WanVACETransformer3DModel (its VACE blocks quantized too); a SkyReels-V2 file, which
    diffusers detects as Wan, as SkyReelsV2Transformer3DModel because its config folder is SkyReels-V2's."""
    figures = check_graph(tiny_models_dir, folders, family, quant)
    if quant == "Q8_0":
        assert 0 < figures["vs_fp32"] < 0.5


def test_vace_blocks_and_skyreels_fps_layers_load_from_the_file(tiny_models_dir, folders):
    """The layers only these variants have come from the file (quantized), not from the model's init."""
    from diffusers import AutoModel
    from diffusers.quantizers.gguf.utils import GGUFParameter

    for family, key in (("wan_vace", "vace_blocks.1.proj_out.weight"),
                        ("skyreels_v2", "fps_projection.net.2.weight")):
        file = gguf_file(tiny_models_dir, folders[family], family, "Q8_0")
        # the fp32 folder's own (base()'s model is given each file's weights in turn)
        reference = AutoModel.from_pretrained(folders[family], subfolder="transformer").state_dict()[key]
        with torch.inference_mode():
            (model,) = DVModelLoader().load(file, "fp32", RUNS[family][1])
        loaded = model.module.state_dict()[key]
        assert isinstance(loaded, GGUFParameter), key
        assert (dequantized(model.module)[key] - reference).abs().max() < 0.01 * reference.abs().max(), key
    # GGUF converters quantize embedding tables too; diffusers would leave fps_embedding as raw blocks
    embedding = model.module.fps_embedding.weight
    assert not isinstance(embedding, GGUFParameter) and embedding.dtype == torch.float32
    fps = AutoModel.from_pretrained(folders["skyreels_v2"], subfolder="transformer").fps_embedding.weight
    assert (embedding - fps).abs().max() < 0.01 * fps.abs().max()


def test_skyreels_gguf_without_its_folder_is_wan(tiny_models_dir, folders):
    """Without a config folder a SkyReels-V2 file is what diffusers detects, Wan (whose Hub config it would
    fetch); the family list of the editor's helper says Wan too."""
    from diffusers_video.model_loaders.loading import family_of_choice

    file = gguf_file(tiny_models_dir, folders["skyreels_v2"], "skyreels_v2", "Q8_0")
    assert family_of_choice("DVModelLoader", file).id == "wan"


def test_vace_gguf_with_a_plain_wan_folder_is_refused(tiny_models_dir, folders):
    file = gguf_file(tiny_models_dir, folders["wan_vace"], "wan_vace", "Q8_0")
    refused("config", lambda: DVModelLoader().load(file, "fp32", "tiny-wan-gguf"),
            "WanTransformer3DModel", "WanVACETransformer3DModel", "Wan (WanVACETransformer3DModel)")


def test_plain_wan_gguf_with_a_vace_folder_is_refused(tiny_models_dir, folders):
    file = gguf_file(tiny_models_dir, folders["wan"], "wan", "Q8_0")
    refused("config", lambda: DVModelLoader().load(file, "fp32", "tiny-wan-vace-gguf"),
            "WanVACETransformer3DModel", "SkyReels-V2 (SkyReelsV2Transformer3DModel)")


def test_vace_gguf_with_a_skyreels_folder_is_refused(tiny_models_dir, folders):
    file = gguf_file(tiny_models_dir, folders["wan_vace"], "wan_vace", "Q8_0")
    refused("config", lambda: DVModelLoader().load(file, "fp32", "tiny-skyreels-v2-df-gguf"),
            "SkyReels-V2 folder", "a Wan file", "Wan (WanVACETransformer3DModel)")


# ---------------------------------------------------------------------------------------------- bad input


def refused(input_name: str, call, *words: str) -> str:
    with pytest.raises(DVInputError) as info:
        call()
    message = str(info.value)
    assert f"DVModelLoader: input '{input_name}'" in message
    for word in words:
        assert word in message, (word, message)
    return message


def test_gguf_of_an_unknown_architecture_is_refused(tiny_models_dir, folders):
    import numpy as np
    from diffusers_video.tiny_models.gguf import write_gguf

    path = os.path.join(tiny_models_dir, "diffusion_models", "tiny-llama.gguf")
    write_gguf({"token_embd.weight": torch.zeros(64, 32), "blk.0.attn_q.weight": torch.zeros(32, 32),
                "output_norm.weight": torch.ones(32)}, path, "Q8_0", "llama")
    assert np  # the writer needs numpy; so does diffusers' reader
    refused("model", lambda: DVModelLoader().load("tiny-llama.gguf", "fp32", "tiny-wan-gguf"),
            "cannot tell", "'llama'", "Wan", "LTX")


def test_gguf_quant_type_diffusers_cannot_dequantize_is_refused(tiny_models_dir, folders):
    """TQ1_0 (ternary): the gguf package writes it, diffusers 0.42 has no dequantizer for it."""
    import gguf
    import numpy as np
    from diffusers import AutoModel
    from diffusers_video.tiny_models.gguf import original_state_dict

    module = AutoModel.from_pretrained(folders["wan"], subfolder="transformer")
    state, arch = original_state_dict(module)
    path = os.path.join(tiny_models_dir, "diffusion_models", "wan_TQ1_0.gguf")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    writer = gguf.GGUFWriter(path, arch)
    for name, tensor in sorted(state.items()):
        array = tensor.numpy()
        if name.endswith(".weight") and array.ndim == 2 and array.shape[1] % 256 == 0:
            writer.add_tensor(name, gguf.quants.quantize(array, gguf.GGMLQuantizationType.TQ1_0),
                              raw_dtype=gguf.GGMLQuantizationType.TQ1_0)
        else:
            writer.add_tensor(name, np.ascontiguousarray(array))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    refused("model", lambda: DVModelLoader().load("wan_TQ1_0.gguf", "fp32", "tiny-wan-gguf"),
            "TQ1_0", "cannot dequantize", "Q8_0", "Q4_K")


def test_truncated_gguf_is_refused(tiny_models_dir, folders):
    source = os.path.join(tiny_models_dir, "diffusion_models", gguf_file(tiny_models_dir, folders["wan"], "wan",
                                                                          "Q8_0"))
    with open(source, "rb") as f:
        head = f.read(os.path.getsize(source) // 2)
    with open(os.path.join(tiny_models_dir, "diffusion_models", "half.gguf"), "wb") as f:
        f.write(head)
    refused("model", lambda: DVModelLoader().load("half.gguf", "fp32", "tiny-wan-gguf"),
            "not a readable GGUF file", "re-download")


def test_gguf_with_fp8_storage_is_refused(tiny_models_dir, folders):
    file = gguf_file(tiny_models_dir, folders["wan"], "wan", "Q8_0")
    refused("weights", lambda: DVModelLoader().load(file, "fp32", "tiny-wan-gguf", weights="fp8_e4m3fn"),
            "quantized already", "'as dtype'")


def test_gguf_files_are_listed_for_the_model_loader_only(tiny_models_dir, folders):
    from diffusers_video.nodes.loaders import DVVAELoader

    file = gguf_file(tiny_models_dir, folders["wan"], "wan", "Q8_0")
    optional = DVModelLoader.INPUT_TYPES()["optional"]
    assert file in DVModelLoader.INPUT_TYPES()["required"]["model"][0] and file in optional["model_2"][0]
    assert not any(name.endswith(".gguf") for name in DVVAELoader.INPUT_TYPES()["required"]["vae"][0])


# ------------------------------------------------------------------------------------ text encoders


@pytest.fixture(scope="module")
def umt5_file(tiny_models_dir, folders):
    from diffusers_video.tiny_models.gguf import write_t5_encoder_gguf

    path = os.path.join(tiny_models_dir, "text_encoders", "umt5_tiny_Q8_0.gguf")
    if not os.path.isfile(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        write_t5_encoder_gguf(folders["wan"], path, "Q8_0")
    return os.path.basename(path)


def test_gguf_umt5_encoder_equals_the_dequantized_folder_encoder(tiny_models_dir, folders, umt5_file):
    """transformers dequantizes GGUF while loading (gguf's numpy dequantization): the embeddings equal the
    folder's encoder with those weights, and the module is as large as the folder's (disk saved, not memory)."""
    import gguf
    import numpy as np
    from diffusers_video.nodes.loaders import DVTextEncoderLoader
    from transformers.modeling_gguf_pytorch_utils import T5TensorProcessor, get_gguf_hf_weights_map

    assert umt5_file in DVTextEncoderLoader.INPUT_TYPES()["required"]["text_encoder"][0]
    with torch.inference_mode():
        (encoder,) = DVTextEncoderLoader().load(umt5_file, "fp32", "tiny-wan-gguf")
        (folder_encoder,) = DVTextEncoderLoader().load("tiny-wan-gguf/text_encoder", "fp32")
    assert type(encoder.module).__name__ == "UMT5EncoderModel" and encoder.family.id == "wan"
    assert module_bytes(encoder.module) == module_bytes(folder_encoder.module)
    with torch.inference_mode():
        quantized = DVTextEncode().encode(encoder, PROMPT, "", 512, True)[0]
        fp32 = DVTextEncode().encode(folder_encoder, PROMPT, "", 512, True)[0]
    path = os.path.join(tiny_models_dir, "text_encoders", umt5_file)
    config = folder_encoder.module.config
    names = get_gguf_hf_weights_map(folder_encoder.module, T5TensorProcessor(config), model_type="t5",
                                    num_layers=config.num_layers)
    with torch.inference_mode():
        state = folder_encoder.module.state_dict()
        for tensor in gguf.GGUFReader(path).tensors:
            weights = gguf.quants.dequantize(np.array(tensor.data), tensor.tensor_type)
            state[names[tensor.name]].copy_(torch.from_numpy(weights).reshape(state[names[tensor.name]].shape))
        same_weights = DVTextEncode().encode(folder_encoder, PROMPT, "", 512, True)[0]
    tensors = [c.embeds["prompt_embeds"] for c in (quantized, same_weights, fp32)]
    parity = (tensors[0] - tensors[1]).abs().max().item()
    error = (tensors[0] - tensors[2]).abs().max().item()
    print(f"\nUMT5 Q8_0 text encoder: parity {parity:.2e}, vs fp32 {error:.2e}, file {os.path.getsize(path)} bytes, "
          f"memory {module_bytes(encoder.module)} bytes")
    assert parity <= 1e-5 and 0 < error < 0.5


def test_gguf_text_encoder_needs_a_config_folder(umt5_file):
    from diffusers_video.nodes.loaders import DVTextEncoderLoader

    with pytest.raises(DVInputError) as info:
        DVTextEncoderLoader().load(umt5_file, "fp32")
    message = str(info.value)
    assert "DVTextEncoderLoader: input 'config'" in message and "tokenizer" in message and "tiny-wan-gguf" in message


def test_gguf_text_encoder_of_another_architecture_is_refused(umt5_file, folders):
    """A UMT5 GGUF with a HunyuanVideo folder, whose text encoder is a Llama."""
    from diffusers_video.nodes.loaders import DVTextEncoderLoader

    with pytest.raises(DVInputError) as info:
        DVTextEncoderLoader().load(umt5_file, "fp32", "tiny-hunyuanvideo-gguf")
    message = str(info.value)
    assert "DVTextEncoderLoader: input 'text_encoder'" in message and "LlamaModel" in message
    assert "umt5" in message and "T5/UMT5" in message
