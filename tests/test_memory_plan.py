"""The offload plan (memory/plan.py), the automatic plan of a sampler run (model_loaders/auto_offload.py), the
working memory declared to the memory manager, and the adapters no wire uses being deleted."""

from __future__ import annotations

import gc
import logging
import os

import pytest
import torch
from diffusers_video import host
from diffusers_video.errors import DVInputError
from diffusers_video.memory import estimate, plan
from diffusers_video.nodes.loaders import DVLoraLoader, DVPipelineLoader
from diffusers_video.nodes.memory import DVOffload
from diffusers_video.nodes.sampling import DVSampler, DVTextEncode

GB = 10**9


def dit(label="transformer", blocks=40, block=0.7 * GB, outside=0.6 * GB, leaf=0.1 * GB) -> plan.ModuleSize:
    return plan.ModuleSize(label, int(blocks * block + outside), (int(block),) * blocks, int(leaf))


def test_full_load_when_it_fits():
    chosen = plan.choose("Wan 14B bf16", [dit()], budget=40 * GB, working=3 * GB)
    assert (chosen.mode, chosen.offloads) == (plan.FULL, False)
    assert chosen.peak == dit().total + 3 * GB
    assert chosen.line.startswith("Wan 14B bf16: transformer 28.6 GB (+3.0 GB working) <= 40.0 GB free -> full load")


def test_two_experts_take_turns_when_only_one_fits():
    chosen = plan.choose("Wan2.2 A14B bf16", [dit(), dit("transformer_2")], budget=40 * GB, working=3 * GB)
    assert chosen.mode == plan.MODEL_OFFLOAD and chosen.peak == dit().total + 3 * GB
    assert "transformer 28.6 GB + transformer_2 28.6 GB" in chosen.line


def test_block_level_with_streams_on_cuda_then_bigger_groups_without():
    size = dit()
    streamed = plan.choose("m", [size], budget=24 * GB, working=3 * GB)
    assert (streamed.mode, streamed.num_blocks_per_group, streamed.use_stream) == (plan.BLOCK, 1, True)
    assert streamed.peak == size.outside_blocks + 2 * size.largest_block + 3 * GB
    assert streamed.line.endswith("-> group offload, 1 block, streams, peak 5.0 GB")
    # Without CUDA there is no stream: the biggest group that fits (20 of 40 blocks: 0.6 + 14 + 3 <= 24).
    plain = plan.choose("m", [size], budget=24 * GB, working=3 * GB, cuda=False)
    assert (plain.mode, plain.num_blocks_per_group, plain.use_stream) == (plan.BLOCK, 20, False)


def test_leaf_level_when_no_block_fits_and_an_error_naming_model_size_and_budget_when_nothing_does():
    size = dit(block=4 * GB, leaf=0.5 * GB)
    chosen = plan.choose("m", [size], budget=5 * GB, working=3 * GB)
    assert (chosen.mode, chosen.use_stream) == (plan.LEAF, True)
    no_stream = plan.choose("m", [size], budget=3.6 * GB, working=3 * GB)
    assert (no_stream.mode, no_stream.use_stream) == (plan.LEAF, False)
    with pytest.raises(DVInputError) as caught:
        plan.choose("Wan2.1-T2V-14B bf16", [size], budget=3 * GB, working=3 * GB)
    message = str(caught.value)
    assert caught.value.input_name == "model"
    assert "Wan2.1-T2V-14B bf16" in message and "transformer 160.6 GB" in message and "give 3.0 GB" in message
    assert "3.5 GB" in message  # the smallest plan's need: leaf 0.5 + working 3


def test_vram_states_low_skips_the_full_load_and_no_goes_leaf_by_leaf():
    assert plan.choose("m", [dit()], 80 * GB, GB, vram_state="low").mode == plan.BLOCK
    assert "--lowvram" in plan.choose("m", [dit()], 80 * GB, GB, vram_state="low").line
    assert plan.choose("m", [dit()], 80 * GB, GB, vram_state="no").mode == plan.LEAF
    assert plan.choose("m", [dit()], 80 * GB, GB, vram_state="high").mode == plan.FULL


def test_measure_splits_a_dit_as_group_offloading_does():
    from diffusers import WanTransformer3DModel

    with torch.device("meta"):
        module = WanTransformer3DModel(num_attention_heads=2, attention_head_dim=8, in_channels=4, out_channels=4,
                                       text_dim=16, freq_dim=16, ffn_dim=32, num_layers=3, rope_max_seq_len=32)
    size = plan.measure(module, "transformer")
    params = sum(p.numel() * p.element_size() for p in module.parameters())
    assert size.total == params + sum(b.numel() * b.element_size() for b in module.buffers())
    assert len(size.blocks) == 3 and size.outside_blocks > 0
    assert size.largest_leaf == max(sum(p.numel() * 4 for p in m.parameters(recurse=False)) for m in module.modules())


def test_working_memory_grows_with_tokens_and_cfg_batch():
    config = {"patch_size": (1, 2, 2), "num_attention_heads": 40, "attention_head_dim": 128, "ffn_dim": 13824}
    one = estimate.working_bytes(config, (16, 21, 90, 160), 1, 2)
    assert estimate.tokens(config, (16, 21, 90, 160)) == 21 * 45 * 80
    assert estimate.working_bytes(config, (16, 21, 90, 160), 2, 2) > 1.9 * one
    assert estimate.working_bytes(config, (16, 41, 90, 160), 1, 2) > 1.9 * one
    assert estimate.cfg_batch(5.0, True) == 2 and estimate.cfg_batch(5.0, False) == 1
    assert estimate.cfg_batch(1.0, True) == 1
    unet = {"block_out_channels": [320, 640, 1280, 1280]}
    assert estimate.working_bytes(unet, (4, 16, 64, 64), 2, 2) == 2 * 16 * 64 * 64 * 320 * 2 * estimate.UNET_TENSORS \
        + 2 * 4 * 16 * 64 * 64 * 16


# ------------------------------------------------------------------------------------ a sampler run planned


@pytest.fixture(scope="module")
def wan(tiny_models_dir):
    from diffusers_video.tiny_models.cache import install_into_models_dir

    install_into_models_dir(tiny_models_dir, "wan", "tiny-wan")
    with torch.inference_mode():
        return DVPipelineLoader().load("tiny-wan", "fp32")


def run(parts, model=None):
    base, _, text_encoder, _ = parts
    with torch.inference_mode():
        (cond,) = DVTextEncode().encode(text_encoder, "a field of flowers", "grey", 512, True)
        return DVSampler().sample(model or base, 32, 32, 5, 2, 5.0, 4, conditioning=cond)[0]["samples"]


@pytest.fixture
def on_a_gpu(monkeypatch):
    """The host as a GPU with `budget` bytes to give: the plan runs; the weights still compute on the CPU."""
    state = {"budget": 10**12, "loads": []}
    monkeypatch.setattr(host, "vram_state", lambda: "normal")
    monkeypatch.setattr(host, "gpu_budget", lambda keep=(): state["budget"])
    real_load = host.load_to_device

    def recording_load(managed):
        managed = [m for m in managed if m is not None]
        state["loads"].append([(m.label, m.working_bytes, m.offloaded_to is not None) for m in managed])
        real_load(managed)

    monkeypatch.setattr(host, "load_to_device", recording_load)
    return state


def test_a_run_that_fits_is_a_full_load_with_its_working_memory_declared(wan, on_a_gpu, caplog):
    plain = run(wan)
    on_a_gpu["loads"].clear()
    with caplog.at_level(logging.INFO, logger="DiffusersVideo"):
        assert torch.equal(run(wan), plain)
    (line,) = [r.getMessage() for r in caplog.records if "plan:" in r.getMessage()]
    assert "tiny-wan fp32: transformer" in line and "-> full load" in line
    denoiser = [entry for loads in on_a_gpu["loads"] for entry in loads if entry[0] == wan[0].managed.label]
    assert denoiser and all(working > 0 and not offloaded for _, working, offloaded in denoiser)
    assert wan[0].managed.working_bytes == 0  # declared for the run only


def test_a_run_that_does_not_fit_is_group_offloaded_with_the_same_frames(wan, on_a_gpu, caplog):
    plain = run(wan)
    size = plan.measure(wan[0].module, "transformer")
    on_a_gpu["budget"] = size.total  # the weights alone: no room for the working memory beside them
    seen = []
    handle = wan[0].module.register_forward_pre_hook(lambda *_: seen.append(wan[0].managed.offloaded_to))
    try:
        with caplog.at_level(logging.INFO, logger="DiffusersVideo"):
            assert torch.equal(run(wan), plain)
    finally:
        handle.remove()
    (line,) = [r.getMessage() for r in caplog.records if "plan:" in r.getMessage()]
    assert "> " in line and "-> group offload" in line
    assert seen and all(device is not None for device in seen)
    assert wan[0].managed.offloaded_to is None


def test_a_run_that_cannot_fit_fails_before_any_weight_moves(wan, on_a_gpu):
    on_a_gpu["budget"] = 1000
    on_a_gpu["loads"].clear()
    base, _, text_encoder, _ = wan
    with torch.inference_mode():
        (cond,) = DVTextEncode().encode(text_encoder, "a field of flowers", "grey", 512, True)
        on_a_gpu["loads"].clear()
        with pytest.raises(DVInputError) as caught:
            DVSampler().sample(base, 32, 32, 5, 2, 5.0, 4, conditioning=cond)
    assert caught.value.node == "DVSampler" and caught.value.input_name == "model"
    assert "tiny-wan fp32 does not fit the GPU" in str(caught.value) and "can give 0.0 GB" in str(caught.value)
    assert on_a_gpu["loads"] == []


def test_an_explicit_full_load_overrides_the_plan(wan, on_a_gpu, caplog):
    on_a_gpu["budget"] = 1000
    (model,) = DVOffload().apply(wan[0], "full load", 1, False, 0)
    with caplog.at_level(logging.INFO, logger="DiffusersVideo"):
        run(wan, model)
    assert not [r for r in caplog.records if "plan:" in r.getMessage()]


def test_no_plan_on_the_cpu(wan, caplog):
    assert host.vram_state() == "disabled"
    with caplog.at_level(logging.INFO, logger="DiffusersVideo"):
        run(wan)
    assert not [r for r in caplog.records if "plan:" in r.getMessage()]


def test_streams_take_one_block_per_group(wan, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    with pytest.raises(DVInputError) as caught:
        DVOffload().apply(wan[0], "group offload: block_level", 4, True, 0)
    assert caught.value.input_name == "num_blocks_per_group" and "1 with use_stream" in str(caught.value)


def test_offloads_go_to_the_cpu_when_the_hosts_offload_device_is_the_gpu(monkeypatch):
    monkeypatch.setattr(host, "offload_device", lambda: torch.device("cuda"))
    assert host.offload_target() == torch.device("cpu")


def test_adapters_no_wire_uses_are_deleted_and_the_size_measured_again(wan, tiny_models_dir, monkeypatch):
    from diffusers_video.tiny_models.lora import build_lora

    build_lora(os.path.join(tiny_models_dir, "diffusers", "tiny-wan"),
               os.path.join(tiny_models_dir, "loras", "tiny-wan-lora.safetensors"), seed=3)
    resized = []
    monkeypatch.setattr(type(wan[0].managed), "size_changed", lambda self: resized.append(self.label))
    (first,) = DVLoraLoader().load(wan[0], "tiny-wan-lora.safetensors", 0.8)
    run(wan, first)
    adapters = set(wan[0].module.peft_config)
    assert len(adapters) == 1 and resized == [wan[0].managed.label]
    run(wan)  # the wire is still alive (ComfyUI's cache would hold it): its adapter stays
    assert set(wan[0].module.peft_config) == adapters
    del first
    gc.collect()
    resized.clear()
    run(wan)
    assert not getattr(wan[0].module, "peft_config", {}) and resized == [wan[0].managed.label]
