"""Precision per component (issue 11 item 4): each component's dtype from its family's diffusers guide, the
loaders' per-component overrides, the fp16-overflow warning, and a run that turns NaN stopping with a DV error."""

from __future__ import annotations

import logging

import pytest
import torch
from diffusers_video import host
from diffusers_video.errors import DVInputError
from diffusers_video.families import all_families, by_id
from diffusers_video.memory.precision import CHOICES, EVERY_ROLE, component_dtype, role_of
from diffusers_video.model_loaders import loading
from diffusers_video.nodes.loaders import DVPipelineLoader, DVTextEncoderLoader, DVVAELoader
from diffusers_video.samplers.finite import check_latents
from parity import Shot, sample_latent, tiny_model_fixtures

FP32, BF16, FP16 = torch.float32, torch.bfloat16, torch.float16
CPU, GPU = torch.device("cpu"), torch.device("cuda")  # a device object needs no GPU: the rules only read its type
ROLES = ("denoiser", "vae", "text_encoder", "image_encoder", "motion_adapter", "controlnet")

wan_path, wan_parts = tiny_model_fixtures("wan")


def dtype_of(family_id: str | None, role: str, requested: str = "auto", device=GPU, bf16: bool | None = True):
    return component_dtype(by_id(family_id) if family_id else None, role, requested, device, bf16_supported=bf16)[0]


# ------------------------------------------------------------------------------------------- the rules


@pytest.mark.parametrize("family", [f.id for f in all_families()])
def test_auto_on_cpu_is_fp32_for_every_component(family):
    for role in ROLES:
        assert component_dtype(by_id(family), role, "auto", CPU) == (FP32, None), role


def test_gpu_without_bf16():
    assert dtype_of("wan", "denoiser", bf16=False) == FP32  # Wan overflows in fp16: fp32 where bf16 is missing
    assert dtype_of("wan", "vae", bf16=False) == FP32  # the Wan guide's VAE
    assert dtype_of("wan", "image_encoder", bf16=False) == FP32  # the Wan image-to-video guide's CLIP
    assert dtype_of("wan", "text_encoder", bf16=False) == FP16
    assert dtype_of("ltx", "denoiser", bf16=False) == FP32  # the LTX guide: the transformer in bf16, not fp16
    assert dtype_of("ltx", "vae", bf16=False) == FP16
    for family in ("cogvideox", "hunyuanvideo", "mochi", "svd", "animatediff", "i2vgenxl", "modelscope"):
        assert dtype_of(family, "denoiser", bf16=False) == FP16, family
    assert dtype_of("mochi", "vae", bf16=False) == FP32
    assert dtype_of(None, "denoiser", bf16=False) == FP16  # no family known (a loader of a bare component)


def test_gpu_with_bf16():
    assert dtype_of("wan", "denoiser") == BF16
    assert dtype_of("wan", "text_encoder") == BF16
    assert dtype_of("wan", "vae") == FP32 and dtype_of("wan", "image_encoder") == FP32
    assert [dtype_of("hunyuanvideo", role) for role in ("denoiser", "text_encoder", "vae")] == [BF16, FP16, FP16]
    assert [dtype_of("mochi", role) for role in ("denoiser", "text_encoder", "vae")] == [BF16, BF16, FP32]
    assert [dtype_of("ltx", role) for role in ("denoiser", "text_encoder", "vae")] == [BF16, BF16, BF16]
    assert [dtype_of("cogvideox", role) for role in ("denoiser", "text_encoder", "vae")] == [BF16, BF16, BF16]
    for family in ("svd", "animatediff", "i2vgenxl", "modelscope"):  # the guides run the whole pipeline in fp16
        assert {dtype_of(family, role) for role in ROLES} == {FP16}, family
    assert dtype_of(None, "vae") == BF16


def test_explicit_choices_win_and_fp16_for_an_overflowing_dit_warns():
    dtype, warning = component_dtype(by_id("wan"), "denoiser", "fp16", GPU, bf16_supported=True)
    assert dtype == FP16
    assert warning and "Wan in fp16 can overflow to NaN frames" in warning and "bf16" in warning
    assert component_dtype(by_id("wan"), "vae", "fp16", GPU, True) == (FP16, None)  # no DiT, no overflow
    assert component_dtype(by_id("cogvideox"), "denoiser", "fp16", GPU, True) == (FP16, None)
    assert component_dtype(by_id("wan"), "vae", "bf16", CPU) == (BF16, None)  # explicit holds on CPU too
    assert component_dtype(by_id("svd"), "denoiser", "fp32", GPU, True) == (FP32, None)


def test_the_host_answers_when_bf16_support_is_not_given(monkeypatch):
    monkeypatch.setattr(host, "default_dtype", lambda device=None: FP16)  # a GPU without bf16
    assert component_dtype(by_id("wan"), "denoiser", "auto", GPU) == (FP32, None)
    monkeypatch.setattr(host, "default_dtype", lambda device=None: BF16)
    assert component_dtype(by_id("wan"), "denoiser", "auto", GPU) == (BF16, None)


def test_unknown_dtype_names_the_input():
    with pytest.raises(DVInputError) as info:
        component_dtype(by_id("wan"), "vae", "fp64", GPU, True, input_name="vae_dtype")
    assert info.value.input_name == "vae_dtype" and "fp32" in (info.value.valid or "")


def test_every_familys_defaults_are_valid():
    for family in all_families():
        for role, value in family.component_dtypes.items():
            assert value in CHOICES, (family.id, role, value)
            assert role in (*ROLES, EVERY_ROLE), (family.id, role)


def test_roles_of_pipeline_components():
    assert role_of("transformer_2", True) == "denoiser"
    assert role_of("text_encoder_2", False) == "text_encoder"
    assert role_of("vae", False) == "vae" and role_of("image_encoder", False) == "image_encoder"


# ------------------------------------------------------------------------------------------- loaders


def _install(models_dir: str, family: str, name: str) -> None:
    from diffusers_video.tiny_models.cache import install_into_models_dir

    install_into_models_dir(models_dir, family, name)


def _dtypes(parts) -> dict[str, torch.dtype]:
    model, vae, text_encoder, _ = parts
    found = {"model": model.module.dtype, "vae": vae.module.dtype, "text_encoder": text_encoder.module.dtype}
    found |= {key: value.module.dtype for key, value in model.companions.items() if hasattr(value, "module")}
    found |= {key: value.module.dtype for key, value in text_encoder.extras.items() if hasattr(value, "module")}
    return found


def test_pipeline_loader_overrides_one_component(tiny_models_dir):
    parts = DVPipelineLoader().load("tiny-cogvideox", "fp32", vae_dtype="fp16")
    assert _dtypes(parts) == {"model": FP32, "vae": FP16, "text_encoder": FP32}
    parts = DVPipelineLoader().load("tiny-cogvideox", "bf16", text_encoder_dtype="fp32")
    assert _dtypes(parts) == {"model": BF16, "vae": BF16, "text_encoder": FP32}  # dtype for every "auto"


def test_pipeline_loader_refuses_an_unknown_override(tiny_models_dir):
    with pytest.raises(DVInputError) as info:
        DVPipelineLoader().load("tiny-cogvideox", "fp32", vae_dtype="fp64")
    assert str(info.value).startswith("DVPipelineLoader: input 'vae_dtype'")


@pytest.fixture
def simulated_gpu(monkeypatch):
    """Loaders deciding as on a GPU with bf16 (nothing is moved there: loading only picks dtypes)."""
    monkeypatch.setattr(host, "torch_device", lambda: GPU)
    monkeypatch.setattr(host, "default_dtype", lambda device=None: BF16)


def test_auto_loads_each_component_at_its_guide_dtype(tiny_models_dir, simulated_gpu):
    _install(tiny_models_dir, "wan_i2v", "tiny-wan-i2v")
    assert _dtypes(DVPipelineLoader().load("tiny-wan-i2v", "auto")) == {
        "model": BF16, "vae": FP32, "text_encoder": BF16, "image_encoder": FP32}
    _install(tiny_models_dir, "hunyuanvideo", "tiny-hunyuanvideo")
    assert _dtypes(DVPipelineLoader().load("tiny-hunyuanvideo", "auto")) == {
        "model": BF16, "vae": FP16, "text_encoder": FP16, "text_encoder_2": FP16}
    # The single-component loaders' auto is the family's default for their component too.
    assert DVVAELoader().load("tiny-wan-i2v/vae", "auto")[0].module.dtype == FP32
    text_encoder = DVTextEncoderLoader().load("tiny-hunyuanvideo/text_encoder", "auto")[0]
    assert text_encoder.module.dtype == FP16 and text_encoder.extras["text_encoder_2"].module.dtype == FP16


def test_fp16_for_an_overflowing_dit_is_logged_once(wan_path, monkeypatch, caplog):
    monkeypatch.setattr(loading, "_WARNED", set())
    with caplog.at_level(logging.WARNING, logger="DiffusersVideo"):
        for _ in range(2):
            model = DVPipelineLoader().load("tiny-wan", "fp16", vae_dtype="fp32")[0]
    assert model.module.dtype == FP16
    assert [r.getMessage() for r in caplog.records].count(
        "DiffusersVideo: Wan2.1 in fp16 can overflow to NaN frames; its diffusers guide runs it in bf16 (or fp32 "
        "where bf16 is missing).") == 1


# ------------------------------------------------------------------------------------------- NaN


class _Pipe:
    def __init__(self, dtype: torch.dtype, steps: int) -> None:
        self.transformer = torch.nn.Linear(1, 1).to(dtype)
        self.num_timesteps = steps


def test_finite_latents_pass():
    check_latents(_Pipe(FP16, 5), 0, torch.zeros(1, 4, 2, 2))
    check_latents(_Pipe(FP16, 5), 0, None)


def test_nan_latents_name_the_step_the_dtype_and_the_cure():
    latents = torch.zeros(1, 4, 2, 2)
    latents[0, 0, 0, 0] = float("nan")
    with pytest.raises(DVInputError) as info:
        check_latents(_Pipe(FP16, 5), 2, latents)
    error = info.value
    assert error.input_name == "model" and "NaN at step 3 of 5" in error.problem and "fp16" in error.problem
    assert error.valid and error.valid.startswith("use bf16 or fp32 for the model")
    latents[0, 0, 0, 0] = float("inf")
    with pytest.raises(DVInputError) as info:
        check_latents(_Pipe(BF16, 5), 0, latents)
    assert "infinite values at step 1 of 5" in info.value.problem and "bf16" in info.value.problem


def test_a_run_that_turns_nan_stops_with_a_dv_error(wan_parts, monkeypatch):
    module = wan_parts[0].module
    forward = module.forward
    calls: list[int] = []

    def nan_after_the_first_step(*args, **kwargs):
        calls.append(1)
        out = forward(*args, **kwargs)
        return out if len(calls) == 1 else (torch.full_like(out[0], float("nan")),)

    monkeypatch.setattr(module, "forward", nan_after_the_first_step)
    shot = Shot(64, 48, 9, 3, guidance=1.0, seed=1, prompt="a fox", max_len=512)  # guidance 1: one pass a step
    with pytest.raises(DVInputError) as info:
        sample_latent(wan_parts, shot)
    text = str(info.value)
    assert text.startswith("DVSampler: input 'model': the latents turned to NaN at step 2 of 3"), text
    assert "fp32" in text and "Valid: use bf16 or fp32 for the model" in text
    assert len(calls) == 2  # stopped at the step that went NaN, not after the last
