"""Weight storage on the loaders: fp8 with layerwise casting stores fp8 and computes in the dtype; 4-bit
needs CUDA and bitsandbytes and says so."""

from __future__ import annotations

import pytest
import torch
from diffusers_video.errors import DVInputError
from diffusers_video.nodes.loaders import DVModelLoader, DVPipelineLoader
from diffusers_video.nodes.sampling import DVSampler, DVTextEncode

# fp8 rounds every stored weight (e4m3: 3 mantissa bits); on the tiny random model the latents move by
# a little relative to their size: measured 0.007 (e4m3fn) and 0.013 (e5m2).
FP8_RELATIVE_TOLERANCE = 0.15


@pytest.fixture(scope="module")
def wan_dir(tiny_models_dir):
    from diffusers_video.tiny_models.cache import install_into_models_dir

    return install_into_models_dir(tiny_models_dir, "wan", "tiny-wan")


def weight_bytes(module) -> int:
    return sum(p.numel() * p.element_size() for p in module.parameters())


def sample(parts):
    model, _, text_encoder, _ = parts
    with torch.inference_mode():
        (cond,) = DVTextEncode().encode(text_encoder, "a kite", "", 512, True)
        return DVSampler().sample(model, 32, 32, 5, 2, 1.0, 1, conditioning=cond)[0]["samples"]


@pytest.mark.parametrize("storage", ["fp8_e4m3fn", "fp8_e5m2"])
def test_fp8_stores_fp8_and_stays_close(wan_dir, storage):
    with torch.inference_mode():
        plain = DVPipelineLoader().load("tiny-wan", "fp32")
        fp8 = DVPipelineLoader().load("tiny-wan", "fp32", storage)
    linear = fp8[0].module.blocks[0].attn1.to_q.weight
    assert linear.dtype == getattr(torch, storage.replace("fp8", "float8"))
    assert fp8[2].module.dtype == torch.float32  # the text encoder is untouched
    # diffusers keeps embeddings, norms and the output layer in the compute dtype; in the tiny model those
    # are a third of the weights (0.66 overall, measured), in a real one a sliver. The blocks are fp8.
    blocks = weight_bytes(fp8[0].module.blocks) / weight_bytes(plain[0].module.blocks)
    assert blocks < 0.3, f"fp8 blocks are {blocks:.2f} of fp32"  # measured 0.28 (norm weights stay fp32)
    assert weight_bytes(fp8[0].module) < weight_bytes(plain[0].module)
    reference, result = sample(plain), sample(fp8)
    relative = ((result - reference).abs().mean() / reference.abs().mean()).item()
    assert relative < FP8_RELATIVE_TOLERANCE


def test_component_loader_takes_fp8_too(wan_dir):
    with torch.inference_mode():
        (model,) = DVModelLoader().load("tiny-wan/transformer", "fp32", "", "fp8_e4m3fn")
    assert model.module.blocks[0].ffn.net[2].weight.dtype == torch.float8_e4m3fn


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message given without CUDA")
def test_4bit_without_cuda_says_so(wan_dir):
    with pytest.raises(DVInputError, match="needs a CUDA GPU") as info:
        DVPipelineLoader().load("tiny-wan", "fp32", "nf4 (bitsandbytes, CUDA)")
    assert "DVPipelineLoader" in str(info.value) and "weights" in str(info.value)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="bitsandbytes 4-bit runs on CUDA only")
def test_4bit_on_cuda(wan_dir):
    pytest.importorskip("bitsandbytes")
    with torch.inference_mode():
        parts = DVPipelineLoader().load("tiny-wan", "fp16", "nf4 (bitsandbytes, CUDA)")
    assert "4bit" in type(parts[0].module.blocks[0].attn1.to_q).__name__.lower() or getattr(
        parts[0].module, "is_loaded_in_4bit", False)
    assert sample(parts).isfinite().all()


def test_unknown_storage_is_refused(wan_dir):
    with pytest.raises(DVInputError, match="unknown storage"):
        DVPipelineLoader().load("tiny-wan", "fp32", "int3")
