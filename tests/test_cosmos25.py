"""Cosmos Predict 2.5 (a variant of the cosmos family): the node graph against Cosmos2_5_PredictBasePipeline on a
tiny offline model with a Qwen2.5-VL text encoder: text-to-world and video-to-world with the guardrail off, and
with a stand-in cosmos_guardrail package (the pipeline round-trips the frames through uint8 only for the real
checker class, so the stand-in subclasses the class the pipeline checks for)."""

from __future__ import annotations

import importlib.util
import sys
import types

import pytest
import torch
from diffusers_video.errors import DVInputError
from diffusers_video.families import cosmos
from diffusers_video.nodes.options import NODES as OPTION_NODES
from diffusers_video.nodes.sampling import DVSampler, DVTextEncode
from parity import Shot, as_pil, assert_parity, graph_frames, reference_frames, tiny_model_fixtures

PROMPT, NEGATIVE = "a red panda plays guitar in a bamboo forest", "blurry, low quality"
W, H, F, STEPS, SEED = 64, 32, 9, 2, 11
SHOT = Shot(W, H, F, STEPS, guidance=3.0, seed=SEED, prompt=PROMPT, negative=NEGATIVE, max_len=48)
OPTIONS = next(node for node in OPTION_NODES if node.__name__ == "DVCosmosOptions")


def options(guardrail: str = cosmos.GUARDRAIL_OFF, latent_frames: int = 2):
    return OPTIONS().build(guardrail=guardrail, fps=16, num_latent_conditional_frames=latent_frames)[0]


path, parts = tiny_model_fixtures("cosmos25")
_, predict2_parts = tiny_model_fixtures("cosmos")


def clip(frames: int = 5) -> torch.Tensor:
    y = torch.linspace(0, 1, H)[:, None]
    x = torch.linspace(0, 1, W)[None, :]
    image = torch.stack([x * torch.ones_like(y), y * torch.ones_like(x), (x * y) % 1], -1)[None]
    return torch.cat([image.roll(3 * t, dims=2) for t in range(frames)])


class PassThrough:
    """diffusers' test dummy: a checker that is not cosmos_guardrail's, so the pipeline skips the uint8 trip."""

    def to(self, *args, **kwargs):
        return self

    def check_text_safety(self, prompt: str) -> bool:
        return True

    def check_video_safety(self, frames):
        return frames


def marking_checker_class():
    """A checker the pipeline takes for cosmos_guardrail's (a subclass of the class it checks against), which
    records the prompts and blackens the top row of the frames it is given."""
    from diffusers.pipelines.cosmos import pipeline_cosmos2_5_predict

    class Marking(pipeline_cosmos2_5_predict.CosmosSafetyChecker):
        def __init__(self) -> None:
            self.prompts: list[str] = []

        def to(self, *args, **kwargs):
            return self

        def check_text_safety(self, prompt: str) -> bool:
            self.prompts.append(prompt)
            return True

        def check_video_safety(self, frames):
            frames = frames.copy()
            frames[:, 0] = 0
            return frames

    return Marking


def reference(folder: str, checker, shot: Shot = SHOT, **inputs) -> torch.Tensor:
    from diffusers import Cosmos2_5_PredictBasePipeline

    pipe = Cosmos2_5_PredictBasePipeline.from_pretrained(folder, safety_checker=checker)
    return reference_frames(pipe, shot, **inputs)


def test_the_folder_is_the_predict25_variant(parts):
    model, _, text_encoder, scheduler = parts
    assert model.family.variant == cosmos.PREDICT_25 and model.family.label == "Cosmos Predict 2.5"
    assert cosmos.model_kind(model) == cosmos.PREDICT_25 and scheduler.class_name == "UniPCMultistepScheduler"
    assert type(text_encoder.module).__name__ == "Qwen2_5_VLForConditionalGeneration"


def test_text_to_world_matches_pipeline(parts, path):
    frames = graph_frames(parts, SHOT, options=options())
    diff = assert_parity(frames, reference(path, PassThrough()))
    print(f"cosmos 2.5 text-to-world max |diff| {diff:.3g}")


def test_video_to_world_matches_pipeline(parts, path):
    """The last 5 frames of a 7-frame clip (two latent frames) are kept, the rest generated."""
    frames = graph_frames(parts, SHOT.but(guidance=1.0), vae=parts[1], video=clip(7), options=options())
    diff = assert_parity(frames, reference(path, PassThrough(), SHOT.but(guidance=1.0), video=as_pil(clip(7)),
                                           num_latent_conditional_frames=2))
    print(f"cosmos 2.5 video-to-world (no cfg) max |diff| {diff:.3g}")


def test_guardrail_checks_prompt_and_frames_as_the_pipeline_does(parts, path, monkeypatch):
    monkeypatch.setattr(cosmos, "_CHECKERS", {})
    marking = marking_checker_class()
    ours = marking()
    module = types.ModuleType("cosmos_guardrail")
    module.CosmosSafetyChecker = lambda: ours
    monkeypatch.setitem(sys.modules, "cosmos_guardrail", module)
    frames = graph_frames(parts, SHOT, options=options(cosmos.GUARDRAIL_ON))
    assert ours.prompts == [PROMPT] and (frames[:, 0] == 0).all()
    theirs = marking()
    assert_parity(frames, reference(path, theirs))
    assert theirs.prompts == [PROMPT]


def refused(node: str, input_name: str, match: str, call) -> DVInputError:
    with pytest.raises(DVInputError, match=match) as info, torch.inference_mode():
        call()
    assert info.value.node == node and info.value.input_name == input_name
    return info.value


def test_bad_inputs_name_node_and_input(parts, predict2_parts, monkeypatch):
    model, vae, text_encoder, _ = parts
    with torch.inference_mode():
        (cond,) = DVTextEncode().encode(text_encoder, PROMPT, NEGATIVE, 48, True)
        (t5_cond,) = DVTextEncode().encode(predict2_parts[2], PROMPT, NEGATIVE, 16, True)

    def sampler(**changes):
        args = {"width": W, "height": H, "num_frames": F, "num_inference_steps": STEPS, "guidance_scale": 3.0,
                "seed": SEED, "conditioning": cond, "vae": vae, "options": options()} | changes
        return lambda: DVSampler().sample(model, **args)

    refused("DVSampler", "num_frames", "cannot produce 10 frames", sampler(num_frames=10))
    refused("DVSampler", "video", "3 frames.*continues the last 5.*num_latent_conditional_frames 1",
            sampler(video=clip(3)))
    refused("DVSampler", "vae", "encodes the image or video with its VAE", sampler(video=clip(5), vae=None))
    refused("DVSampler", "conditioning", "width 32, but this transformer expects 64.*Qwen2.5-VL",
            sampler(conditioning=t5_cond))
    original = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "torchvision" else original(name, *a))
    refused("DVSampler", "image", "torchvision, which is not installed.*one-frame 'video'",
            sampler(image=clip(1)))
    refused("DVTextEncode", "prompt", "with the chat template, over the text encoder's 48",
            lambda: DVTextEncode().encode(text_encoder, " ".join(["panda"] * 60), NEGATIVE, 48, False))
