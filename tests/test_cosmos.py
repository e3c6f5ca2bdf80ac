"""Cosmos Predict 2 video-to-world: the node graph against Cosmos2VideoToWorldPipeline on a tiny offline model,
continuing a first frame and a video, with the guardrail off, and with a stand-in cosmos_guardrail package
installed (the real one downloads its models); a missing guardrail stops the run, naming both ways out."""

from __future__ import annotations

import logging
import sys
import types

import pytest
import torch
from diffusers_video.errors import DVInputError
from diffusers_video.families import cosmos
from diffusers_video.model_loaders.components import DVSchedulerSpec
from diffusers_video.nodes.options import NODES as OPTION_NODES
from diffusers_video.nodes.sampling import DVSampler, DVTextEncode
from diffusers_video.nodes.vae import DVVAEDecode
from parity import Shot, as_pil, assert_parity, graph_frames, load_parts, reference_frames, tiny_model_fixtures

PROMPT, NEGATIVE = "a red panda plays guitar in a bamboo forest", "blurry, low quality"
W, H, F, STEPS, SEED = 64, 32, 9, 2, 11
SHOT = Shot(W, H, F, STEPS, guidance=3.0, seed=SEED, prompt=PROMPT, negative=NEGATIVE, max_len=16)
OPTIONS = next(node for node in OPTION_NODES if node.__name__ == "DVCosmosOptions")
OFF = OPTIONS().build(guardrail=cosmos.GUARDRAIL_OFF, fps=16)[0]
ON = OPTIONS().build(guardrail=cosmos.GUARDRAIL_ON, fps=16)[0]

path, parts = tiny_model_fixtures("cosmos")


def first_frame() -> torch.Tensor:
    y = torch.linspace(0, 1, H)[:, None]
    x = torch.linspace(0, 1, W)[None, :]
    return torch.stack([x * torch.ones_like(y), y * torch.ones_like(x), (x * y) % 1], -1)[None]


def clip(frames: int = 5) -> torch.Tensor:
    return torch.cat([first_frame().roll(3 * t, dims=2) for t in range(frames)])


class RecordingChecker:
    """A stand-in for cosmos_guardrail.CosmosSafetyChecker: records the prompts, passes or refuses them, and marks
    the frames it is given (a black top row), so its use shows in the output."""

    def __init__(self, safe_text: bool = True, safe_video: bool = True) -> None:
        self.prompts: list[str] = []
        self.videos = 0
        self.safe_text, self.safe_video = safe_text, safe_video

    def to(self, *args, **kwargs):
        return self

    def check_text_safety(self, prompt: str) -> bool:
        self.prompts.append(prompt)
        return self.safe_text

    def check_video_safety(self, frames):
        self.videos += 1
        if not self.safe_video:
            return None
        frames = frames.copy()
        frames[:, 0] = 0
        return frames


class PassThroughChecker(RecordingChecker):
    """diffusers' own test dummy (tests/pipelines/cosmos/cosmos_guardrail.py): checks nothing."""

    def check_video_safety(self, frames):
        return frames


@pytest.fixture
def guardrail_package(monkeypatch):
    """Install a fake cosmos_guardrail module whose CosmosSafetyChecker() is `checker`; returns a setter."""
    monkeypatch.setattr(cosmos, "_CHECKERS", {})

    def install(checker) -> None:
        module = types.ModuleType("cosmos_guardrail")
        module.CosmosSafetyChecker = lambda: checker
        monkeypatch.setitem(sys.modules, "cosmos_guardrail", module)

    return install


@pytest.fixture
def no_guardrail_package(monkeypatch):
    monkeypatch.setattr(cosmos, "_CHECKERS", {})
    monkeypatch.setitem(sys.modules, "cosmos_guardrail", None)  # import cosmos_guardrail raises ImportError


def reference(folder: str, checker, shot: Shot = SHOT, **inputs) -> torch.Tensor:
    """The pipeline as the diffusers test builds it (a safety checker handed in), called as the guide calls it."""
    from diffusers import Cosmos2VideoToWorldPipeline

    pipe = Cosmos2VideoToWorldPipeline.from_pretrained(folder, safety_checker=checker)
    return reference_frames(pipe, shot, **inputs)


@pytest.mark.parametrize("guidance", [3.0, 1.0], ids=["cfg", "no-cfg"])
def test_image_to_world_matches_pipeline_with_the_guardrail_off(parts, path, guidance, caplog):
    shot = SHOT.but(guidance=guidance)
    with caplog.at_level(logging.WARNING, logger="DiffusersVideo"):
        frames = graph_frames(parts, shot, vae=parts[1], image=first_frame(), options=OFF)
    warnings = [r.message for r in caplog.records if "guardrail is off" in r.getMessage()]
    assert len(warnings) == 1, "one warning line per run when the guardrail is off"
    assert frames.shape == (F, H, W, 3)
    diff = assert_parity(frames, reference(path, PassThroughChecker(), shot, image=as_pil(first_frame())[0]))
    print(f"cosmos image-to-world ({'cfg' if guidance > 1 else 'no cfg'}) max |diff| {diff:.3g}")


def test_video_to_world_matches_pipeline(parts, path):
    """Five frames given (two latent frames kept), the other four generated."""
    frames = graph_frames(parts, SHOT, vae=parts[1], video=clip(5), options=OFF)
    diff = assert_parity(frames, reference(path, PassThroughChecker(), video=as_pil(clip(5))))
    print(f"cosmos video-to-world max |diff| {diff:.3g}")
    assert (frames - graph_frames(parts, SHOT, vae=parts[1], image=first_frame(), options=OFF)).abs().max() > 1e-2


def test_installed_guardrail_checks_prompt_and_frames_as_the_pipeline_does(parts, path, guardrail_package):
    """With the (stand-in) cosmos_guardrail package installed, the default choice uses it: the prompt is checked
    before sampling and the decoded frames go through it, exactly as in the pipeline given that checker."""
    ours, theirs = RecordingChecker(), RecordingChecker()
    guardrail_package(ours)
    frames = graph_frames(parts, SHOT, vae=parts[1], image=first_frame())  # no options node: the default
    assert ours.prompts == [PROMPT] and ours.videos == 1
    assert (frames[:, 0] == 0).all()  # the checker's mark
    assert_parity(frames, reference(path, theirs, image=as_pil(first_frame())[0]))
    assert theirs.prompts == [PROMPT] and theirs.videos == 1
    with torch.inference_mode():
        DVSampler().sample(parts[0], W, H, F, 1, 3.0, SEED, conditioning=DVTextEncode().encode(
            parts[2], PROMPT, NEGATIVE, 16, True)[0], vae=parts[1], image=first_frame(), options=ON)
    assert ours.prompts == [PROMPT, PROMPT]  # chosen explicitly, the same


def refused(node: str, input_name: str, match: str, call) -> DVInputError:
    with pytest.raises(DVInputError, match=match) as info, torch.inference_mode():
        call()
    assert info.value.node == node and info.value.input_name == input_name
    assert f"{node}: input '{input_name}'" in str(info.value)
    return info.value


def conditioning(parts, prompt: str = PROMPT):
    with torch.inference_mode():
        return DVTextEncode().encode(parts[2], prompt, NEGATIVE, 16, True)[0]


def test_missing_guardrail_stops_before_any_work_naming_both_ways_out(parts, no_guardrail_package, monkeypatch):
    monkeypatch.setattr(cosmos, "run_denoise", lambda *a, **k: pytest.fail("sampling started"))
    cond = conditioning(parts)
    for options in (None, ON):
        error = refused("DVCosmosOptions", "guardrail", "cosmos_guardrail package is not installed",
                        lambda options=options: DVSampler().sample(parts[0], W, H, F, STEPS, 3.0, SEED,
                                                                   conditioning=cond, vae=parts[1],
                                                                   image=first_frame(), options=options))
        assert "pip install cosmos_guardrail" in str(error) and cosmos.GUARDRAIL_OFF in str(error)
    # A latent sampled with the guardrail (or one that lost its keys) is not decoded without it either.
    latent = {"samples": torch.zeros(1, 16, 3, H // 8, W // 8), "dv_family": "cosmos"}
    refused("DVCosmosOptions", "guardrail", "not installed", lambda: DVVAEDecode().decode(parts[1], latent, 0, "off",
                                                                                          0, 0.0))


def test_guardrail_that_cannot_load_its_models_is_named(parts, monkeypatch):
    monkeypatch.setattr(cosmos, "_CHECKERS", {})
    module = types.ModuleType("cosmos_guardrail")

    def offline():
        raise OSError("We couldn't connect to 'https://huggingface.co' to load nvidia/Cosmos-1.0-Guardrail")

    module.CosmosSafetyChecker = offline
    monkeypatch.setitem(sys.modules, "cosmos_guardrail", module)
    error = refused("DVCosmosOptions", "guardrail", "could not load its models .OSError", lambda: DVSampler().sample(
        parts[0], W, H, F, STEPS, 3.0, SEED, conditioning=conditioning(parts), vae=parts[1], image=first_frame()))
    assert cosmos.GUARDRAIL_OFF in str(error)


def test_guardrail_refusals(parts, guardrail_package):
    guardrail_package(RecordingChecker(safe_text=False))
    refused("DVSampler", "conditioning", "unsafe text in the prompt", lambda: DVSampler().sample(
        parts[0], W, H, F, STEPS, 3.0, SEED, conditioning=conditioning(parts), vae=parts[1], image=first_frame()))
    cosmos._CHECKERS.clear()
    guardrail_package(RecordingChecker(safe_video=False))
    with torch.inference_mode():
        (latent,) = DVSampler().sample(parts[0], W, H, F, 1, 3.0, SEED, conditioning=conditioning(parts),
                                       vae=parts[1], image=first_frame())
    refused("DVVAEDecode", "samples", "blocked this video", lambda: DVVAEDecode().decode(parts[1], latent, 0, "off",
                                                                                          0, 0.0))


def test_bad_inputs_name_node_and_input(parts, no_guardrail_package):
    model, vae, text_encoder, _ = parts
    cond = conditioning(parts)

    def sampler(**changes):
        args = {"width": W, "height": H, "num_frames": F, "num_inference_steps": STEPS, "guidance_scale": 3.0,
                "seed": SEED, "conditioning": cond, "vae": vae, "image": first_frame(), "options": OFF} | changes
        return lambda: DVSampler().sample(model, **args)

    refused("DVSampler", "num_frames", "cannot produce 12 frames.*nearest: 9 or 13", sampler(num_frames=12))
    refused("DVSampler", "width", "not divisible by 16.*nearest: 32 or 48", sampler(width=40))
    refused("DVSampler", "height", "not divisible by 16", sampler(height=24))
    refused("DVSampler", "width", "beyond this transformer's max_size.*at most 512", sampler(width=528))
    refused("DVSampler", "image", "neither is wired in.*frames into 'video'", sampler(image=None))
    refused("DVSampler", "video", "both 'image' and 'video'.*disconnect", sampler(video=clip(5)))
    refused("DVSampler", "video", "9 frames for a 9-frame video.*fewer than 9", sampler(image=None, video=clip(9)))
    refused("DVSampler", "vae", "encodes the image or video with its VAE", sampler(vae=None))
    refused("DVSampler", "conditioning", "nothing is wired in", sampler(conditioning=None))
    unipc = DVSchedulerSpec.from_config_dict("UniPCMultistepScheduler", {"use_flow_sigmas": True,
                                                                         "prediction_type": "flow_prediction"})
    refused("DVSampler", "scheduler", "does not fit it.*'FlowMatch Euler'", sampler(scheduler=unipc))
    bad_choice = OPTIONS().build(guardrail="skip it", fps=16)[0]
    refused("DVCosmosOptions", "guardrail", "'skip it' is not a choice", sampler(options=bad_choice))
    refused("DVTextEncode", "prompt", "over the text encoder's 16",
            lambda: DVTextEncode().encode(text_encoder, " ".join(["panda"] * 40), NEGATIVE, 16, False))


def test_other_familys_parts_are_refused(parts):
    model, vae, _, _ = parts
    _, wan_vae, wan_text_encoder, _ = load_parts("tiny-cogvideox")
    with torch.inference_mode():
        (cog_cond,) = DVTextEncode().encode(wan_text_encoder, PROMPT, NEGATIVE, 16, True)
    refused("DVSampler", "conditioning", "CogVideoX text encoder", lambda: DVSampler().sample(
        model, W, H, F, STEPS, 3.0, SEED, conditioning=cog_cond, vae=vae, image=first_frame(), options=OFF))
    refused("DVSampler", "vae", "CogVideoX VAE", lambda: DVSampler().sample(
        model, W, H, F, STEPS, 3.0, SEED, conditioning=conditioning(parts), vae=wan_vae, image=first_frame(),
        options=OFF))
    latent = {"samples": torch.zeros(1, 16, 3, H // 8, W // 8), "dv_family": "cosmos"}
    refused("DVVAEDecode", "vae", "made by a cosmos model", lambda: DVVAEDecode().decode(wan_vae, latent, 0, "off",
                                                                                          0, 0.0))


def test_options_node_defaults_to_the_guardrail():
    required = OPTIONS.INPUT_TYPES()["required"]
    choices, spec = required["guardrail"]
    assert choices == list(cosmos.GUARDRAIL_CHOICES) and spec["default"] == cosmos.GUARDRAIL_ON
    assert "responsibility" in cosmos.GUARDRAIL_OFF and "docs/cosmos.md" in spec["tooltip"]
