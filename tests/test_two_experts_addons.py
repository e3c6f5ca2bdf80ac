"""Every add-on acts on each denoiser of a two-expert model (Wan2.2 A14B): fp8 storage at load, step caches,
torch.compile and model offload while sampling; each is seen on both experts and removed afterwards."""

from __future__ import annotations

import pytest
import torch
from diffusers_video import host
from diffusers_video.nodes.memory import DVOffload
from diffusers_video.nodes.speed import DVStepCache, DVTorchCompile
from parity import Shot, load_parts, sample_latent

SHOT = Shot(32, 32, 9, 4, 5.0, 11, "a fox in the snow", "blurry", 16)


@pytest.fixture(scope="module")
def a14b(tiny_models_dir):
    from diffusers_video.tiny_models.cache import install_into_models_dir

    install_into_models_dir(tiny_models_dir, "wan22_a14b", "tiny-wan22-a14b")
    return load_parts("tiny-wan22-a14b")


def experts(model) -> list:
    return [managed.module for managed in model.denoisers().values()]


def test_fp8_storage_reaches_both_experts(a14b):
    from diffusers_video.nodes.loaders import DVPipelineLoader

    with torch.inference_mode():
        model = DVPipelineLoader().load("tiny-wan22-a14b", "fp32", "fp8_e4m3fn")[0]
    for module in experts(model):
        assert module.blocks[0].attn1.to_q.weight.dtype == torch.float8_e4m3fn


def spy(monkeypatch, cls, name: str) -> list:
    calls: list = []
    real = getattr(cls, name)

    def recording(self, *args, **kwargs):
        calls.append(self)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(cls, name, recording)
    return calls


def test_a_step_cache_is_installed_on_both_experts_and_removed(a14b, monkeypatch):
    model = a14b[0]
    (cached,) = DVStepCache().apply(model, "FirstBlockCache", 0.05, 1, 100, 800)
    cls = type(model.module)
    enabled, disabled = spy(monkeypatch, cls, "enable_cache"), spy(monkeypatch, cls, "disable_cache")
    sample_latent((cached, *a14b[1:]), SHOT.but(guidance=1.0))
    assert {id(m) for m in enabled} == {id(m) for m in experts(model)}
    assert {id(m) for m in disabled} >= {id(m) for m in experts(model)}
    assert not any(m.is_cache_enabled for m in experts(model))


def test_compile_and_model_offload_act_on_both_experts(a14b, monkeypatch):
    model = a14b[0]
    (compiled,) = DVTorchCompile().apply(model, "eager", "default", False, False)
    (offloaded,) = DVOffload().apply(compiled, "model offload", 1, False, 0)
    compiled_modules = spy(monkeypatch, type(model.module), "compile")
    unloaded: list = []
    real_unload = host.unload
    monkeypatch.setattr(host, "unload", lambda managed: (unloaded.append(managed), real_unload(managed))[1])
    sample_latent((offloaded, *a14b[1:]), SHOT)
    assert {id(m) for m in compiled_modules} == {id(m) for m in experts(model)}
    assert {id(m) for m in unloaded} == {id(m) for m in model.denoisers().values()}
    assert all(m._compiled_call_impl is None for m in experts(model))  # eager again for other wires
