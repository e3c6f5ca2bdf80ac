"""Wan2.2 (A14B two experts, text- and image-to-video; TI2V-5B) against WanPipeline / WanImageToVideoPipeline
on tiny offline models built like diffusers' own tests/pipelines/wan/test_wan_22*.py."""

from __future__ import annotations

import os

import pytest
import torch
from diffusers_video.errors import DVInputError
from diffusers_video.nodes.loaders import DVLoraLoader, DVModelLoader
from diffusers_video.nodes.options import NODES as OPTION_NODES
from parity import Shot, as_pil, assert_parity, decode, graph_frames, load_parts, reference_frames, sample_latent

PROMPT, NEGATIVE = "a fox runs through the snow at night", "blurry, low quality"
W, H, F, STEPS, SEED = 32, 32, 9, 4, 11
SHOT = Shot(W, H, F, STEPS, guidance=5.0, seed=SEED, prompt=PROMPT, negative=NEGATIVE, max_len=16)
WanOptions = next(cls for cls in OPTION_NODES if cls.__name__ == "DVWanOptions")
HIGH, LOW = "high-noise expert (transformer)", "low-noise expert (transformer_2)"


def install(models_dir: str, tiny: str, name: str) -> str:
    from diffusers_video.tiny_models.cache import install_into_models_dir

    return install_into_models_dir(models_dir, tiny, name)


@pytest.fixture(scope="module")
def folders(tiny_models_dir):
    return {"a14b": install(tiny_models_dir, "wan22_a14b", "tiny-wan22-a14b"),
            "i2v": install(tiny_models_dir, "wan22_i2v_a14b", "tiny-wan22-i2v-a14b"),
            "5b": install(tiny_models_dir, "wan22_ti2v_5b", "tiny-wan22-ti2v-5b"),
            "wan21": install(tiny_models_dir, "wan", "tiny-wan")}


@pytest.fixture(scope="module")
def loaded(folders):
    return {key: load_parts(os.path.basename(path)) for key, path in folders.items()}


def first_frame(size: int = W) -> torch.Tensor:
    """A smooth RGB image as a ComfyUI IMAGE [1, H, W, 3] in 0..1 (8-bit values, as loaded from a file)."""
    y, x = torch.meshgrid(torch.linspace(0, 1, size), torch.linspace(0, 1, size), indexing="ij")
    return (torch.stack([x, y, (x + y) / 2], dim=-1)[None] * 255).round() / 255


def graph(parts, guidance=5.0, guidance_2=-1.0, model=None, image=None, vae=None, **shot):
    """The graph with a DVWanOptions (guidance_scale_2; -1: not set, the same as guidance), on another model than the
    folder's if given; with an image, its VAE encodes it (the folder's unless given)."""
    (options,) = WanOptions().build(guidance_scale_2=guidance_2)
    extra = {"image": image, "vae": vae or parts[1]} if image is not None else {}
    return graph_frames((model or parts[0], *parts[1:]), SHOT.but(guidance=guidance, **shot), options=options,
                        **extra)


def reference(path, pipeline="WanPipeline", guidance=5.0, guidance_2=None, image=None, pipe=None):
    import diffusers

    pipe = pipe or getattr(diffusers, pipeline).from_pretrained(path)
    extra = {"image": as_pil(image)[0]} if image is not None else {}
    if guidance_2 is not None:
        extra["guidance_scale_2"] = guidance_2
    return reference_frames(pipe, SHOT.but(guidance=guidance), **extra)


def max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return (a - b).abs().max().item()


# ---------------------------------------------------------------------------------------------- variants


def test_variants_come_from_the_configs(loaded):
    expect = {"a14b": ("wan2.2-a14b", 2, 16), "i2v": ("wan2.2-a14b", 2, 16), "5b": ("wan2.2-ti2v-5b", 1, 32),
              "wan21": ("wan2.1", 1, 16)}
    for key, (variant, experts, multiple) in expect.items():
        model, vae = loaded[key][:2]
        assert (model.family.variant, len(model.denoisers()), model.family.size_multiple) == (variant, experts,
                                                                                              multiple), key
    assert loaded["5b"][0].geometry.channels == 48 and loaded["5b"][0].geometry.spatial == 16
    assert loaded["5b"][1].family.variant == "wan2.2-ti2v-5b"  # the VAE alone says it too
    assert loaded["a14b"][0].pipeline_config["boundary_ratio"] == 0.875
    assert loaded["5b"][0].pipeline_config["expand_timesteps"] is True


def test_the_editor_gets_the_variants_rules(folders):
    from diffusers_video.routes import families_json, model_family_json

    rules = families_json()["wan"]
    assert rules["variants"]["wan2.2-ti2v-5b"]["size_multiple"] == 32
    assert rules["variants"]["wan2.2-a14b"]["label"] == "Wan2.2 A14B"
    assert model_family_json("DVPipelineLoader", "tiny-wan22-ti2v-5b") == {"family": "wan", "variant": "wan2.2-ti2v-5b"}
    assert model_family_json("DVPipelineLoader", "tiny-wan22-a14b")["variant"] == "wan2.2-a14b"
    assert model_family_json("DVModelLoader", "tiny-wan22-ti2v-5b/transformer")["variant"] == "wan2.2-ti2v-5b"


# ---------------------------------------------------------------------------------------------- parity


@pytest.mark.parametrize("guidance, guidance_2", [(5.0, -1.0), (1.0, -1.0), (5.0, 2.0)],
                         ids=["cfg", "no-cfg", "guidance_scale_2"])
def test_a14b_text_to_video_matches_pipeline(loaded, folders, guidance, guidance_2):
    assert_parity(graph(loaded["a14b"], guidance, guidance_2),
                  reference(folders["a14b"], guidance=guidance, guidance_2=None if guidance_2 < 0 else guidance_2))


def test_both_experts_and_the_second_guidance_count(loaded, folders):
    """A pipeline without transformer_2 (what the loader built before Wan2.2) gives other frames, and so does
    another guidance_scale_2: neither is silently dropped."""
    from diffusers import WanPipeline

    frames = graph(loaded["a14b"])
    pipe = WanPipeline.from_pretrained(folders["a14b"])
    pipe.register_to_config(boundary_ratio=None)  # the high-noise expert alone
    assert max_diff(frames, reference(folders["a14b"], pipe=pipe)) > 1e-3
    assert max_diff(frames, graph(loaded["a14b"], guidance_2=2.0)) > 1e-4


@pytest.mark.parametrize("guidance, guidance_2", [(5.0, -1.0), (1.0, -1.0), (5.0, 2.0)],
                         ids=["cfg", "no-cfg", "guidance_scale_2"])
def test_a14b_image_to_video_matches_pipeline(loaded, folders, guidance, guidance_2):
    assert_parity(graph(loaded["i2v"], guidance, guidance_2, image=first_frame()),
                  reference(folders["i2v"], "WanImageToVideoPipeline", guidance,
                            None if guidance_2 < 0 else guidance_2, image=first_frame()))


@pytest.mark.parametrize("task", ["t2v", "i2v"])
def test_ti2v_5b_matches_pipeline(loaded, folders, task):
    image = first_frame() if task == "i2v" else None
    pipeline = "WanImageToVideoPipeline" if task == "i2v" else "WanPipeline"
    assert_parity(graph(loaded["5b"], image=image), reference(folders["5b"], pipeline, image=image))


def test_ti2v_5b_keeps_the_first_frame_at_timestep_zero(loaded, folders):
    """expand_timesteps: the first latent frame is the image's encoding, untouched by denoising (without the
    pipeline config the 48-channel DiT would be given noise there)."""
    vae = loaded["5b"][1]
    latent = sample_latent(loaded["5b"], SHOT, vae=vae, image=first_frame())
    with torch.inference_mode():
        image = first_frame().permute(0, 3, 1, 2)[:, :, None] * 2 - 1  # [1, 3, 1, H, W] in -1..1
        encoded = vae.module.encode(image).latent_dist.mode()
        config = vae.module.config
        mean = torch.tensor(config.latents_mean).view(1, -1, 1, 1, 1)
        std = torch.tensor(config.latents_std).view(1, -1, 1, 1, 1)
    assert max_diff(latent["samples"][:, :, :1], (encoded - mean) / std) <= 1e-5
    assert latent["samples"][:, :, 1:].std() > 0.1  # the rest was denoised from noise


# ---------------------------------------------------------------------------------------------- memory manager


def test_experts_are_loaded_one_at_a_time_when_they_run(loaded, monkeypatch):
    """Each expert goes through the memory manager just before its first step, not both up front, so the
    idle one can be evicted; the recorded order follows the boundary."""
    from diffusers_video import host
    from diffusers_video.families.wan import DEFAULT_SCHEDULER

    model = loaded["a14b"][0]
    calls: list[list[str]] = []
    real = host.load_to_device
    monkeypatch.setattr(host, "load_to_device", lambda managed: (calls.append([m.label for m in managed]),
                                                                 real(managed))[1])
    graph(loaded["a14b"])
    experts = [labels for labels in calls if any("transformer" in label for label in labels)]
    assert experts == [["tiny-wan22-a14b/transformer"], ["tiny-wan22-a14b/transformer_2"]]
    scheduler = (model.scheduler or DEFAULT_SCHEDULER).create()
    scheduler.set_timesteps(STEPS)
    high = int((scheduler.timesteps >= 0.875 * scheduler.config.num_train_timesteps).sum())
    assert 0 < high < STEPS  # the tiny run crosses the boundary, so both loads above were needed


# ---------------------------------------------------------------------------------------------- LoRA


@pytest.fixture(scope="module")
def loras(tiny_models_dir, folders):
    from diffusers_video.tiny_models.lora import build_lora

    made = {}
    for name, folder, subfolder, seed in (("wan22-high.safetensors", folders["a14b"], "transformer", 1),
                                          ("wan22-low.safetensors", folders["a14b"], "transformer_2", 2),
                                          ("wan21.safetensors", folders["wan21"], "transformer", 3)):
        made[name] = build_lora(folder, os.path.join(tiny_models_dir, "loras", name), seed, subfolder=subfolder)
    return made


def test_lora_per_expert_matches_pipeline(loaded, folders, loras):
    from diffusers import WanPipeline

    model = loaded["a14b"][0]
    with torch.inference_mode():
        (model,) = DVLoraLoader().load(model, "wan22-high.safetensors", 0.8, HIGH)
        (model,) = DVLoraLoader().load(model, "wan22-low.safetensors", 0.5, LOW)
    frames = graph(loaded["a14b"], model=model)
    pipe = WanPipeline.from_pretrained(folders["a14b"])
    pipe.load_lora_weights(loras["wan22-high.safetensors"], adapter_name="high")
    pipe.load_lora_weights(loras["wan22-low.safetensors"], adapter_name="low", load_into_transformer_2=True)
    pipe.transformer.set_adapters(["high"], [0.8])
    pipe.transformer_2.set_adapters(["low"], [0.5])
    assert_parity(frames, reference(folders["a14b"], pipe=pipe))
    assert max_diff(frames, graph(loaded["a14b"])) > 1e-4  # the LoRAs act...
    assert_parity(graph(loaded["a14b"]), reference(folders["a14b"]))  # ...on this wire only


def test_a_lora_for_both_experts_and_a_wan21_lora_of_the_same_size_fit(loaded, loras):
    with torch.inference_mode():
        (model,) = DVLoraLoader().load(loaded["a14b"][0], "wan21.safetensors", 1.0)
    assert [lora.expert for lora in model.loras] == [""]
    assert [len(expert.loras) for expert in model.experts()] == [1, 1]
    assert max_diff(graph(loaded["a14b"], model=model), graph(loaded["a14b"])) > 1e-4


# ---------------------------------------------------------------------------------------------- single files


@pytest.fixture(scope="module")
def expert_files(tiny_models_dir, folders):
    from diffusers_video.tiny_models.single_file import build_wan_original_checkpoint

    out = {}
    for name, folder, subfolder in (("wan22_high.safetensors", folders["a14b"], "transformer"),
                                    ("wan22_low.safetensors", folders["a14b"], "transformer_2"),
                                    ("wan22_5b.safetensors", folders["5b"], "transformer")):
        out[name] = build_wan_original_checkpoint(folder, os.path.join(tiny_models_dir, "diffusion_models", name),
                                                  subfolder)
    return out


def test_single_file_experts_match_the_folder(loaded, folders, expert_files):
    with torch.inference_mode():
        (model,) = DVModelLoader().load("wan22_high.safetensors", "fp32", "tiny-wan22-a14b",
                                        model_2="wan22_low.safetensors")
    assert model.family.variant == "wan2.2-a14b" and model.pipeline_config["boundary_ratio"] == 0.875
    assert_parity(graph(loaded["a14b"], model=model), reference(folders["a14b"]))


def test_boundary_ratio_input_overrides_the_folder(loaded, expert_files):
    with torch.inference_mode():
        (model,) = DVModelLoader().load("wan22_high.safetensors", "fp32", "tiny-wan22-a14b",
                                        model_2="wan22_low.safetensors", boundary_ratio=0.5)
    assert model.pipeline_config["boundary_ratio"] == 0.5
    assert max_diff(graph(loaded["a14b"], model=model), graph(loaded["a14b"])) > 1e-4


# ---------------------------------------------------------------------------------------------- bad input


def refused(node: str, input_name: str, match: str, call) -> None:
    with pytest.raises(DVInputError, match=match) as info:
        call()
    assert f"{node}: input '{input_name}'" in str(info.value)


def test_wan22_single_files_need_a_local_config(expert_files):
    from diffusers_video.model_loaders.single_file import CONFIG_FROM_HUB

    refused("DVModelLoader", "config", "Wan2.2 A14B", lambda: DVModelLoader().load(
        "wan22_high.safetensors", "fp32", CONFIG_FROM_HUB, model_2="wan22_low.safetensors"))
    refused("DVModelLoader", "config", "TI2V-5B", lambda: DVModelLoader().load(
        "wan22_5b.safetensors", "fp32", CONFIG_FROM_HUB))
    refused("DVModelLoader", "boundary_ratio", "only one expert", lambda: DVModelLoader().load(
        "wan22_high.safetensors", "fp32", "tiny-wan22-a14b", boundary_ratio=0.9))


def test_comfyui_scaled_fp8_files_are_refused(tiny_models_dir, expert_files):
    from safetensors.torch import load_file, save_file

    state = load_file(expert_files["wan22_high.safetensors"])
    state["scaled_fp8"] = torch.zeros(0, dtype=torch.float8_e4m3fn)
    save_file(state, os.path.join(tiny_models_dir, "diffusion_models", "wan22_fp8_scaled.safetensors"))
    refused("DVModelLoader", "model", "scaled-fp8", lambda: DVModelLoader().load(
        "wan22_fp8_scaled.safetensors", "fp32", "tiny-wan22-a14b"))


def test_a_lora_that_does_not_fit_by_shape_is_refused(loaded, tiny_models_dir, loras):
    """A LoRA of a wider model (as a Wan2.1 1.3B LoRA on a 14B expert): the same layer names, other sizes."""
    from safetensors.torch import load_file, save_file

    state = load_file(loras["wan21.safetensors"])
    wider = {k: torch.cat([v, v], dim=1) if ".lora_A." in k else v for k, v in state.items()}
    save_file(wider, os.path.join(tiny_models_dir, "loras", "wider.safetensors"))
    refused("DVLoraLoader", "lora", "does not fit .*transformer_2.* inputs 48", lambda: DVLoraLoader().load(
        loaded["a14b"][0], "wider.safetensors", 1.0, LOW))
    refused("DVLoraLoader", "expert", "has no 'transformer_2'", lambda: DVLoraLoader().load(
        loaded["wan21"][0], "wan21.safetensors", 1.0, LOW))


def test_second_guidance_on_a_one_expert_model_is_refused(loaded):
    refused("DVSampler", "options", "one expert", lambda: graph(loaded["wan21"], guidance_2=3.0))
    refused("DVSampler", "options", "one expert", lambda: graph(loaded["5b"], guidance_2=3.0))


def test_ti2v_5b_sizes_are_multiples_of_32(loaded):
    refused("DVSampler", "width", "32", lambda: graph(loaded["5b"], width=48))


def test_a_5b_vae_with_an_a14b_model_is_refused(loaded):
    refused("DVSampler", "vae", "48 latent channels", lambda: graph(loaded["i2v"], image=first_frame(),
                                                                  vae=loaded["5b"][1]))
    latent = sample_latent(loaded["a14b"], SHOT.but(steps=1, guidance=1.0))
    refused("DVVAEDecode", "vae", "16 channels", lambda: decode(loaded["5b"], latent))  # the 5B's VAE


def test_a_two_expert_model_without_its_second_expert_is_refused(loaded):
    import dataclasses

    half = dataclasses.replace(loaded["a14b"][0], more_denoisers={})
    refused("DVSampler", "model", "only its high-noise expert", lambda: graph(loaded["a14b"], model=half))
