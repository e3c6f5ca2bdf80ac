"""The bad-input catalogue (issue 12): API prompts through the in-process executor, each with the class of answer
it must get, and nothing written outside the output folder.

A row is a small valid prompt of one family with one thing changed, and what must come back:
- Invalid(node, input): the executor's ComfyUI-style validation error (PromptError), naming that node and input;
- DV(node, class, input): a DVInputError raised by that node, naming that exact input, with a non-empty
  "Valid:" text (a catch-all that turns any exception into a DV error does not pass: the input is pinned);
- OK(): a correct output (a file in the output folder, or the node's result).
After every row no file may have appeared or changed in the sandbox outside the output folder (and ComfyUI's
temp folder, where previews with save_output off belong), and no half-written file anywhere.

One executor serves the whole module, so a loader whose inputs are unchanged is not run again (as on a
re-queue in ComfyUI); rows that change a loader use loader ids of their own for that reason.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Callable
from typing import Any

import pytest
from bad_input_support import check_dv_error, declared_inputs, sandbox, unservable
from diffusers_video import NODE_CLASS_MAPPINGS
from diffusers_video.runner.executor import Executor, NodeExecutionError, PromptError

NAN, INF = float("nan"), float("inf")
DROP = object()  # in a change: remove the input


class Reroute:
    """ComfyUI's frontend Reroute as a backend node would be: any type in, the same object out ("*" matches
    every socket), which is how a wrong object reaches a node whose socket types would refuse a direct link."""

    RETURN_TYPES = ("*",)
    FUNCTION = "route"

    @classmethod
    def INPUT_TYPES(cls):  # noqa: N802 - ComfyUI's name
        return {"required": {"value": ("*", {})}}

    def route(self, value):
        return (value,)


NODES = {**NODE_CLASS_MAPPINGS, "Reroute": Reroute}


# ------------------------------------------------------------------------------------------- prompts


def combine(images: list, prefix: str = "catalogue/run", **inputs: Any) -> dict:
    return {"class_type": "DVVideoCombine", "inputs": {
        "images": images, "fps": 8.0, "filename_prefix": prefix, "format": "image/gif", "crf": 19,
        "loop_count": 0, "pingpong": False, "save_output": True, **inputs}}


def cog(p: str = "c", model: str = "tiny-cogvideox") -> dict:
    """CogVideoX text-to-video at 64x48, 9 frames, 1 step: loader, encode, sample, decode, combine."""
    return {
        f"{p}1": {"class_type": "DVPipelineLoader", "inputs": {"model": model, "dtype": "fp32"}},
        f"{p}2": {"class_type": "DVTextEncode", "inputs": {
            "text_encoder": [f"{p}1", 2], "prompt": "a red panda plays guitar", "negative_prompt": "",
            "max_sequence_length": 226, "truncate_long_prompt": True}},
        f"{p}3": {"class_type": "DVSampler", "inputs": {
            "model": [f"{p}1", 0], "conditioning": [f"{p}2", 0], "width": 64, "height": 48, "num_frames": 9,
            "num_inference_steps": 1, "guidance_scale": 6.0, "seed": 1}},
        f"{p}4": {"class_type": "DVVAEDecode", "inputs": {
            "vae": [f"{p}1", 1], "samples": [f"{p}3", 0], "decode_chunk_size": 0, "tiling": "off",
            "tile_sample_size": 0, "tile_overlap": 0.0}},
        f"{p}5": combine([f"{p}4", 0]),
    }


def clip_loader(**inputs: Any) -> dict:
    return {"class_type": "DVLoadVideo", "inputs": {
        "video": "clip.mp4", "frame_load_cap": 0, "skip_first_frames": 0, "select_every_nth": 1, "width": 0,
        "height": 0, **inputs}}


def cog_i2v() -> dict:
    """CogVideoX image-to-video (the tiny I2V model learned its positions at 64x48), the first frame of the clip."""
    prompt = cog("i", "tiny-cogvideox-i2v")
    prompt["iv"] = clip_loader(frame_load_cap=1)
    prompt["i3"]["inputs"].update(image=["iv", 0], vae=["i1", 1])
    return prompt


def cog_v2v() -> dict:
    """CogVideoX video-to-video on the clip, with the CogVideoX options' strength."""
    prompt = cog()
    prompt["v1"] = clip_loader()
    prompt["o1"] = {"class_type": "DVCogVideoXOptions", "inputs": {"use_dynamic_cfg": False, "strength": 0.8}}
    prompt["c3"]["inputs"].update(video=["v1", 0], vae=["c1", 1], options=["o1", 0], num_inference_steps=2)
    return prompt


def svd() -> dict:
    """Stable Video Diffusion from the clip's first frame, 64x48, 6 frames, 1 step."""
    return {
        "s1": {"class_type": "DVPipelineLoader", "inputs": {"model": "tiny-svd", "dtype": "fp32"}},
        "sv": clip_loader(frame_load_cap=1),
        "s3": {"class_type": "DVSampler", "inputs": {
            "model": ["s1", 0], "vae": ["s1", 1], "image": ["sv", 0], "width": 64, "height": 48, "num_frames": 6,
            "num_inference_steps": 1, "guidance_scale": 3.0, "seed": 5}},
        "s4": {"class_type": "DVVAEDecode", "inputs": {
            "vae": ["s1", 1], "samples": ["s3", 0], "decode_chunk_size": 0, "tiling": "off", "tile_sample_size": 0,
            "tile_overlap": 0.0}},
        "s5": combine(["s4", 0], "catalogue/svd"),
    }


def animatediff(loader: dict | None = None) -> dict:
    """AnimateDiff: the tiny SD1.5 with the tiny motion adapter, 32x32, 8 frames, 1 step."""
    return {
        "a1": loader or {"class_type": "DVPipelineLoader", "inputs": {"model": "tiny-sd15", "dtype": "fp32"}},
        "a2": {"class_type": "DVMotionAdapterLoader", "inputs": {"motion_adapter": "tiny-motion-adapter",
                                                                 "dtype": "fp32"}},
        "a3": {"class_type": "DVApplyMotionAdapter", "inputs": {"model": ["a1", 0], "motion_adapter": ["a2", 0]}},
        "a4": {"class_type": "DVTextEncode", "inputs": {
            "text_encoder": ["a1", 2], "prompt": "a lighthouse in a storm", "negative_prompt": "",
            "max_sequence_length": 77, "truncate_long_prompt": True}},
        "a5": {"class_type": "DVSampler", "inputs": {
            "model": ["a3", 0], "conditioning": ["a4", 0], "width": 32, "height": 32, "num_frames": 8,
            "num_inference_steps": 1, "guidance_scale": 7.5, "seed": 21}},
        "a6": {"class_type": "DVVAEDecode", "inputs": {
            "vae": ["a1", 1], "samples": ["a5", 0], "decode_chunk_size": 0, "tiling": "off", "tile_sample_size": 0,
            "tile_overlap": 0.0}},
        "a7": combine(["a6", 0], "catalogue/animatediff"),
    }


def zero() -> dict:
    """Stable Diffusion 1.5 frame by frame with ControlNet and cross-frame attention (32x32, 4 frames)."""
    return {
        "z1": {"class_type": "DVPipelineLoader", "inputs": {"model": "tiny-sd15", "dtype": "fp32"}},
        "z2": {"class_type": "DVControlNetLoader", "inputs": {"controlnet": "tiny-controlnet", "dtype": "fp32"}},
        "zv": clip_loader(frame_load_cap=4, width=32, height=32),
        "z3": {"class_type": "DVApplyControlNet", "inputs": {"controlnet": ["z2", 0], "control_frames": ["zv", 0],
                                                             "strength": 1.0}},
        "z4": {"class_type": "DVCrossFrameAttention", "inputs": {"model": ["z1", 0], "control": ["z3", 0]}},
        "z5": {"class_type": "DVTextEncode", "inputs": {
            "text_encoder": ["z1", 2], "prompt": "a dancer", "negative_prompt": "", "max_sequence_length": 77,
            "truncate_long_prompt": True}},
        "z6": {"class_type": "DVSampler", "inputs": {
            "model": ["z4", 0], "control": ["z4", 1], "conditioning": ["z5", 0], "width": 32, "height": 32,
            "num_frames": 4, "num_inference_steps": 1, "guidance_scale": 7.5, "seed": 3}},
        "z7": {"class_type": "DVVAEDecode", "inputs": {
            "vae": ["z1", 1], "samples": ["z6", 0], "decode_chunk_size": 0, "tiling": "off", "tile_sample_size": 0,
            "tile_overlap": 0.0}},
        "z8": combine(["z7", 0], "catalogue/zero"),
    }


def t2v_zero(**options: Any) -> dict:
    """Text2Video-Zero: the tiny SD1.5 frame by frame with the motion field (32x32, 4 frames, 4 steps)."""
    prompt = zero()
    for node in ("z2", "zv", "z3", "z4", "z6", "z7", "z8"):
        del prompt[node]
    prompt.update({
        "t6": {"class_type": "DVSampler", "inputs": {
            "model": ["z1", 0], "conditioning": ["z5", 0], "options": ["op", 0], "width": 32, "height": 32,
            "num_frames": 4, "num_inference_steps": 4, "guidance_scale": 7.5, "seed": 3}},
        "op": {"class_type": "DVText2VideoZeroOptions", "inputs": {**T2VZ, **options}},
        "t7": {"class_type": "DVVAEDecode", "inputs": {
            "vae": ["z1", 1], "samples": ["t6", 0], "decode_chunk_size": 0, "tiling": "off", "tile_sample_size": 0,
            "tile_overlap": 0.0}},
        "t8": combine(["t7", 0], "catalogue/t2v-zero"),
    })
    return prompt


def wan() -> dict:
    prompt = cog("w", "tiny-wan")
    prompt["w2"]["inputs"]["max_sequence_length"] = 512
    prompt["w3"]["inputs"]["guidance_scale"] = 5.0
    return prompt


def mochi() -> dict:
    """Mochi-1 at 32x32, 7 frames (6k+1), 2 steps (its sigma schedule needs at least 2)."""
    prompt = cog("m", "tiny-mochi")
    prompt["m2"]["inputs"]["max_sequence_length"] = 32
    prompt["m3"]["inputs"].update(width=32, height=32, num_frames=7, num_inference_steps=2, guidance_scale=4.5)
    return prompt


def latent_save(prefix: str = "catalogue/latent") -> dict:
    """CogVideoX sampled and saved as a latent (no decode)."""
    prompt = cog()
    del prompt["c4"], prompt["c5"]
    prompt["l1"] = {"class_type": "DVSaveLatent", "inputs": {"samples": ["c3", 0], "filename_prefix": prefix}}
    return prompt


def ltx_keyframe(upscale: bool = False) -> dict:
    """LTX-Video 0.9.5+ with a keyframe (the clip's first frame) at its last frame, 64x32, 9 frames, 1 step; with
    upscale, the latent upscaled and refined at 128x64 (the two-stage graph)."""
    prompt = cog("x", "tiny-ltx_095")
    prompt["x2"]["inputs"]["max_sequence_length"] = 128
    prompt["xv"] = clip_loader(frame_load_cap=1)
    prompt["xk"] = {"class_type": "DVLTXCondition", "inputs": {"image": ["xv", 0], "frame_index": 8, "strength": 1.0,
                                                               "image_cond_noise_scale": 0.025}}
    prompt["x3"]["inputs"].update(width=64, height=32, guidance_scale=3.0, vae=["x1", 1], options=["xk", 0])
    if upscale:
        prompt["xl"] = {"class_type": "DVLTXLatentUpsamplerLoader", "inputs": {
            "latent_upsampler": "diffusers/tiny-ltx-upsampler", "dtype": "fp32"}}
        prompt["xu"] = {"class_type": "DVLTXUpsampleLatent", "inputs": {
            "samples": ["x3", 0], "latent_upsampler": ["xl", 0], "vae": ["x1", 1], "adain_factor": 0.0,
            "tone_map_compression_ratio": 0.0}}
        prompt["xr"] = {"class_type": "DVLTXRefineLatent", "inputs": {"samples": ["xu", 0], "options": ["xk", 0],
                                                                      "denoise_strength": 1.0}}
        prompt["x6"] = {"class_type": "DVSampler", "inputs": {**prompt["x3"]["inputs"], "width": 128, "height": 64,
                                                              "options": ["xr", 0]}}
        prompt["x4"]["inputs"]["samples"] = ["x6", 0]
    return prompt


def load_video(**inputs: Any) -> dict:
    return {"v1": clip_loader(**inputs), "v2": combine(["v1", 0], "catalogue/loaded")}


def changed(prompt: dict, changes: dict[str, Any] | None = None, add: dict | None = None) -> dict:
    """`prompt` with inputs changed ("node.input": value, DROP removes it) and nodes added."""
    prompt = {node: {"class_type": spec["class_type"], "inputs": dict(spec["inputs"])} for node, spec in prompt.items()}
    for key, value in (changes or {}).items():
        node, name = key.split(".", 1)
        if value is DROP:
            prompt[node]["inputs"].pop(name, None)
        else:
            prompt[node]["inputs"][name] = value
    prompt.update(add or {})
    return prompt


def lora(strength: Any = 1.0, name: str = "cog_lora.safetensors", **extra: Any) -> dict:
    """A LoRA on the CogVideoX model before the sampler."""
    return changed(cog(), {"c3.model": ["lo", 0]}, {"lo": {"class_type": "DVLoraLoader", "inputs": {
        "model": ["c1", 0], "lora": name, "strength": strength, **extra}}})


def with_options(prompt: dict, sampler: str, node_class: str, **values: Any) -> dict:
    return changed(prompt, {f"{sampler}.options": ["op", 0]}, {"op": {"class_type": node_class, "inputs": values}})


def speed(prompt: dict, node_class: str, **values: Any) -> dict:
    """A model-wire node (step cache, compile, offload, ...) between the CogVideoX loader and the sampler."""
    return changed(prompt, {"c3.model": ["sp", 0]},
                   {"sp": {"class_type": node_class, "inputs": {"model": ["c1", 0], **values}}})


STEP_CACHE = {"cache": "PyramidAttentionBroadcast", "threshold": 0.05, "skip_range": 2, "timestep_start": 100,
              "timestep_end": 800}
OFFLOAD = {"offload": "ComfyUI decides", "num_blocks_per_group": 1, "use_stream": False, "forward_chunk_size": 0}
T2VZ = {"motion_field_strength_x": 12.0, "motion_field_strength_y": 12.0, "t0": 0, "t1": 1}
ANIMATEDIFF_OPTIONS = {"strength": 0.8, "controlnet_frame_indices": "", "context_length": 0, "context_stride": 4,
                       "weighting_scheme": "pyramid", "noise_type": "shuffle_context", "free_init_iterations": 0,
                       "free_init_method": "butterworth", "free_init_use_fast_sampling": False, "free_init_order": 4,
                       "free_init_spatial_stop_frequency": 0.25, "free_init_temporal_stop_frequency": 0.25}


# ------------------------------------------------------------------------------------------- answers


@dataclasses.dataclass(frozen=True)
class Invalid:
    node: str
    input: str | None = None
    text: str = ""


@dataclasses.dataclass(frozen=True)
class DV:
    node: str
    class_type: str
    input: str | frozenset
    contains: str | None = None


@dataclasses.dataclass(frozen=True)
class OK:
    check: Callable[[Any, Any], None] | None = None


def wrote_file(node: str, suffix: str | None = None) -> Callable:
    def check(result, box) -> None:
        entries = result.outputs[node].get("images") or result.outputs[node].get("latents")
        entry = entries[0]
        base = box.output if entry["type"] == "output" else box.comfy_temp()
        path = os.path.join(base, entry["subfolder"], entry["filename"])
        assert os.path.isfile(path) and os.path.getsize(path) > 0, path
        assert not unservable(entry["filename"]), entry["filename"]
        if suffix:
            assert entry["filename"].endswith(suffix), entry["filename"]
    return check


def row(name: str, prompt: Callable[[], dict], answer: Any, xfail: str | None = None):
    marks = [pytest.mark.xfail(strict=True, reason=xfail)] if xfail else []
    return pytest.param(prompt, answer, id=name, marks=marks)


LONG = "x" * 300
PROMPT_WORDS = " ".join(["a very long and detailed description"] * 80)

ROWS = [
    # --- the valid prompts the rows change: each must run -------------------------------------------------
    row("cog-t2v-ok", cog, OK(wrote_file("c5", ".gif"))),
    row("cog-i2v-ok", cog_i2v, OK(wrote_file("i5"))),
    row("cog-v2v-ok", cog_v2v, OK(wrote_file("c5"))),
    row("svd-ok", svd, OK(wrote_file("s5"))),
    row("animatediff-ok", animatediff, OK(wrote_file("a7"))),
    row("controlnet-cross-frame-ok", zero, OK(wrote_file("z8"))),
    row("wan-ok", wan, OK(wrote_file("w5"))),
    row("save-latent-ok", latent_save, OK(wrote_file("l1", ".safetensors"))),
    row("load-video-ok", load_video, OK(wrote_file("v2"))),

    # --- ComfyUI-style validation: values not in a list, wrong links, missing inputs --------------------------
    row("pipeline-model-not-listed", lambda: changed(cog("x"), {"x1.model": "no-such-model"}), Invalid("x1", "model")),
    row("pipeline-model-leaves-folder", lambda: changed(cog("x"), {"x1.model": "../../etc"}), Invalid("x1", "model")),
    row("pipeline-dtype-unknown", lambda: changed(cog("x"), {"x1.dtype": "fp64"}), Invalid("x1", "dtype")),
    row("pipeline-weights-unknown", lambda: changed(cog("x"), {"x1.weights": "int3"}), Invalid("x1", "weights")),
    row("model-loader-model-2-unknown", lambda: changed(cog(), {"c3.model": ["m1", 0]}, {"m1": {
        "class_type": "DVModelLoader", "inputs": {"model": "tiny-cogvideox/transformer", "dtype": "fp32",
                                                  "model_2": "nope"}}}), Invalid("m1", "model_2")),
    row("vae-loader-not-listed", lambda: changed(cog(), {"c4.vae": ["vl", 0]}, {"vl": {
        "class_type": "DVVAELoader", "inputs": {"vae": "tiny-cogvideox/transformer", "dtype": "fp32"}}}),
        Invalid("vl", "vae")),
    row("text-encoder-loader-not-listed", lambda: changed(cog(), {"c2.text_encoder": ["tl", 0]}, {"tl": {
        "class_type": "DVTextEncoderLoader", "inputs": {"text_encoder": "tiny-cogvideox/vae", "dtype": "fp32"}}}),
        Invalid("tl", "text_encoder")),
    row("motion-adapter-not-listed", lambda: changed(animatediff(), {"a2.motion_adapter": "../tiny-sd15"}),
        Invalid("a2", "motion_adapter")),
    row("checkpoint-not-listed", lambda: animatediff({"class_type": "DVCheckpointLoader", "inputs": {
        "ckpt_name": "missing.safetensors", "dtype": "fp32"}}), Invalid("a1", "ckpt_name")),
    row("controlnet-not-listed", lambda: changed(zero(), {"z2.controlnet": "/etc/passwd"}),
        Invalid("z2", "controlnet")),
    row("lora-not-listed", lambda: changed(cog(), {"c3.model": ["lo", 0]}, {"lo": {
        "class_type": "DVLoraLoader", "inputs": {"model": ["c1", 0], "lora": "../../x.safetensors", "strength": 1.0}}}),
        Invalid("lo", "lora")),
    row("scheduler-unknown", lambda: changed(cog(), {"c3.scheduler": ["sc", 0]}, {"sc": {
        "class_type": "DVScheduler", "inputs": {"scheduler": "LMS", "timestep_spacing": "from model"}}}),
        Invalid("sc", "scheduler")),
    row("decode-tiling-unknown", lambda: changed(cog(), {"c4.tiling": "maybe"}), Invalid("c4", "tiling")),
    row("decode-memory-unknown", lambda: changed(cog(), {"c4.memory": "unlimited"}), Invalid("c4", "memory")),
    row("combine-format-unknown", lambda: changed(cog(), {"c5.format": "video/avi"}), Invalid("c5", "format")),
    row("image-options-resize-unknown", lambda: with_options(cog(), "c3", "DVImageInputOptions", resize_mode="zoom"),
        Invalid("op", "resize_mode")),
    row("compile-backend-unknown", lambda: speed(cog(), "DVTorchCompile", backend="tensorrt", mode="default",
                                                 fullgraph=False, dynamic=False), Invalid("sp", "backend")),
    row("attention-backend-unknown", lambda: speed(cog(), "DVAttentionBackend", backend="magic"),
        Invalid("sp", "backend")),
    row("offload-mode-unknown", lambda: speed(cog(), "DVOffload", **{**OFFLOAD, "offload": "to disk"}),
        Invalid("sp", "offload")),
    row("step-cache-unknown", lambda: speed(cog(), "DVStepCache", **{**STEP_CACHE, "cache": "TeaCache"}),
        Invalid("sp", "cache")),
    # (ComfyUI's server would let this name through to the node, as VALIDATE_INPUTS names 'latent'; the in-process
    # executor checks every combo against its list.)
    row("load-latent-not-listed", lambda: changed(cog(), {"c4.samples": ["ll", 0]}, {
        "ll": {"class_type": "DVLoadLatent", "inputs": {"latent": "x.latent"}}}), Invalid("ll", "latent")),
    row("vae-wired-into-model-socket", lambda: changed(cog(), {"c3.model": ["c1", 1]}), Invalid("c3", "model")),
    row("image-wired-into-conditioning", lambda: changed(cog_v2v(), {"c3.conditioning": ["v1", 0]}),
        Invalid("c3", "conditioning")),
    row("vae-wired-into-motion-adapter-model", lambda: changed(animatediff(), {"a3.model": ["a1", 1]}),
        Invalid("a3", "model")),
    row("link-to-missing-node", lambda: changed(cog(), {"c4.samples": ["c9", 0]}), Invalid("c4", "samples")),
    row("link-to-missing-output", lambda: changed(cog(), {"c3.conditioning": ["c2", 3]}),
        Invalid("c3", "conditioning")),
    row("sampler-width-missing", lambda: changed(cog(), {"c3.width": DROP}), Invalid("c3", "width")),
    row("unknown-node-type", lambda: changed(cog(), add={"zz": {"class_type": "DVTeaCache", "inputs": {}}}),
        Invalid("zz")),

    # --- wrong objects through a reroute: the node itself must refuse them by name ---------------------------
    row("reroute-vae-into-sampler-model", lambda: changed(cog(), {"c3.model": ["rr", 0]}, {
        "rr": {"class_type": "Reroute", "inputs": {"value": ["c1", 1]}}}),
        DV("c3", "DVSampler", "model")),
    row("reroute-vae-into-motion-adapter", lambda: changed(animatediff(), {"a3.model": ["rr", 0]}, {
        "rr": {"class_type": "Reroute", "inputs": {"value": ["a1", 1]}}}), DV("a3", "DVApplyMotionAdapter", "model")),
    row("reroute-model-into-decode-vae", lambda: changed(cog(), {"c4.vae": ["rr", 0]}, {
        "rr": {"class_type": "Reroute", "inputs": {"value": ["c1", 0]}}}), DV("c4", "DVVAEDecode", "vae")),
    row("reroute-image-into-decode-samples", lambda: changed(cog_v2v(), {"c4.samples": ["rr", 0]}, {
        "rr": {"class_type": "Reroute", "inputs": {"value": ["v1", 0]}}}), DV("c4", "DVVAEDecode", "samples")),
    row("reroute-latent-into-combine-images", lambda: changed(cog(), {"c5.images": ["rr", 0]}, {
        "rr": {"class_type": "Reroute", "inputs": {"value": ["c3", 0]}}}), DV("c5", "DVVideoCombine", "images")),
    row("reroute-scheduler-into-text-encode", lambda: changed(cog(), {"c2.text_encoder": ["rr", 0]}, {
        "rr": {"class_type": "Reroute", "inputs": {"value": ["c1", 3]}}}), DV("c2", "DVTextEncode", "text_encoder")),
    row("reroute-image-into-save-latent", lambda: changed(load_video(), add={
        "rr": {"class_type": "Reroute", "inputs": {"value": ["v1", 0]}},
        "l1": {"class_type": "DVSaveLatent", "inputs": {"samples": ["rr", 0], "filename_prefix": "x"}}}),
        DV("l1", "DVSaveLatent", "samples")),
    row("reroute-model-into-apply-controlnet", lambda: changed(zero(), {"z3.controlnet": ["rr", 0]}, {
        "rr": {"class_type": "Reroute", "inputs": {"value": ["z1", 0]}}}), DV("z3", "DVApplyControlNet", "controlnet")),
    row("reroute-int-into-control-frames", lambda: changed(zero(), {"z3.control_frames": ["rr", 0]}, {
        "rr": {"class_type": "Reroute", "inputs": {"value": ["zv", 1]}}}),
        DV("z3", "DVApplyControlNet", "control_frames")),
    row("reroute-vae-into-lora-model", lambda: changed(cog(), {"c3.model": ["lo", 0]}, {
        "rr": {"class_type": "Reroute", "inputs": {"value": ["c1", 1]}},
        "lo": {"class_type": "DVLoraLoader", "inputs": {"model": ["rr", 0], "lora": "cog_lora.safetensors",
                                                        "strength": 1.0}}}), DV("lo", "DVLoraLoader", "model")),
    row("reroute-text-encoder-into-step-cache", lambda: changed(speed(cog(), "DVStepCache", **STEP_CACHE),
                                                                {"sp.model": ["rr", 0]},
                                                                {"rr": {"class_type": "Reroute",
                                                                        "inputs": {"value": ["c1", 2]}}}),
        DV("sp", "DVStepCache", "model")),
    row("reroute-vae-into-offload", lambda: changed(speed(cog(), "DVOffload", **OFFLOAD), {"sp.model": ["rr", 0]},
                                                    {"rr": {"class_type": "Reroute", "inputs": {"value": ["c1", 1]}}}),
        DV("sp", "DVOffload", "model")),
    row("reroute-vae-into-compile", lambda: changed(speed(cog(), "DVTorchCompile", backend="eager", mode="default",
                                                          fullgraph=False, dynamic=False), {"sp.model": ["rr", 0]},
                                                    {"rr": {"class_type": "Reroute", "inputs": {"value": ["c1", 1]}}}),
        DV("sp", "DVTorchCompile", "model")),
    row("reroute-vae-into-scheduler-base", lambda: changed(cog(), {"c3.scheduler": ["sc", 0]}, {
        "rr": {"class_type": "Reroute", "inputs": {"value": ["c1", 1]}},
        "sc": {"class_type": "DVScheduler", "inputs": {"scheduler": "DDIM", "timestep_spacing": "from model",
                                                       "base": ["rr", 0]}}}), DV("sc", "DVScheduler", "base")),
    row("reroute-vae-into-options-chain", lambda: changed(with_options(cog(), "c3", "DVCogVideoXOptions",
                                                                       use_dynamic_cfg=False, strength=0.8),
                                                          {"op.options": ["rr", 0]},
                                                          {"rr": {"class_type": "Reroute",
                                                                  "inputs": {"value": ["c1", 1]}}}),
        DV("op", "DVCogVideoXOptions", "options")),

    # --- NaN and infinity, as JSON numbers and as "nan" strings ---------------------------------------------
    row("sampler-guidance-nan", lambda: changed(cog(), {"c3.guidance_scale": NAN}),
        DV("c3", "DVSampler", "guidance_scale")),
    row("sampler-guidance-nan-string", lambda: changed(cog(), {"c3.guidance_scale": "nan"}),
        DV("c3", "DVSampler", "guidance_scale")),
    row("sampler-guidance-inf", lambda: changed(cog(), {"c3.guidance_scale": INF}),
        DV("c3", "DVSampler", "guidance_scale")),
    row("sampler-guidance-negative-inf", lambda: changed(cog(), {"c3.guidance_scale": -INF}),
        DV("c3", "DVSampler", "guidance_scale")),
    row("combine-fps-nan", lambda: changed(cog(), {"c5.fps": NAN}), DV("c5", "DVVideoCombine", "fps")),
    row("combine-fps-nan-string", lambda: changed(cog(), {"c5.fps": "nan"}), DV("c5", "DVVideoCombine", "fps")),
    row("combine-fps-inf", lambda: changed(cog(), {"c5.fps": INF}), DV("c5", "DVVideoCombine", "fps")),
    row("cog-options-strength-nan", lambda: changed(cog_v2v(), {"o1.strength": NAN}),
        DV("o1", "DVCogVideoXOptions", "strength")),
    row("decode-tile-overlap-nan", lambda: changed(cog(), {"c4.tile_overlap": NAN, "c4.tiling": "on"}),
        DV("c4", "DVVAEDecode", "tile_overlap")),
    row("lora-strength-nan", lambda: lora(NAN),
        DV("lo", "DVLoraLoader", "strength")),
    row("lora-strength-inf", lambda: lora(INF),
        DV("lo", "DVLoraLoader", "strength")),
    row("scheduler-flow-shift-nan", lambda: changed(wan(), {"w3.scheduler": ["sc", 0]}, {"sc": {
        "class_type": "DVScheduler", "inputs": {"scheduler": "UniPC", "timestep_spacing": "from model",
                                                "flow_shift": NAN}}}), DV("sc", "DVScheduler", "flow_shift")),
    row("step-cache-threshold-nan", lambda: speed(cog(), "DVStepCache", **{**STEP_CACHE, "cache": "FirstBlockCache",
                                                                           "threshold": NAN}),
        DV("sp", "DVStepCache", "threshold")),
    row("model-loader-boundary-ratio-nan", lambda: changed(cog(), {"c3.model": ["m1", 0]}, {"m1": {
        "class_type": "DVModelLoader", "inputs": {"model": "tiny-cogvideox/transformer", "dtype": "fp32",
                                                  "boundary_ratio": NAN}}}),
        DV("m1", "DVModelLoader", "boundary_ratio")),
    row("apply-controlnet-strength-nan", lambda: changed(zero(), {"z3.strength": NAN}),
        DV("z3", "DVApplyControlNet", "strength")),
    row("svd-options-noise-aug-nan", lambda: with_options(svd(), "s3", "DVSVDOptions", fps=7, motion_bucket_id=127,
                                                          noise_aug_strength=NAN, min_guidance_scale=1.0),
        DV("op", "DVSVDOptions", "noise_aug_strength")),
    row("wan-options-guidance-2-nan", lambda: with_options(wan(), "w3", "DVWanOptions", guidance_scale_2=NAN,
                                                                 strength=0.8, conditioning_scale=1.0),
        DV("op", "DVWanOptions", "guidance_scale_2")),
    row("t2v-zero-motion-nan", lambda: with_options(zero(), "z6", "DVText2VideoZeroOptions",
                                                    **{**T2VZ, "motion_field_strength_x": NAN}),
        DV("op", "DVText2VideoZeroOptions", "motion_field_strength_x")),
    row("pix2pix-image-guidance-inf", lambda: with_options(zero(), "z6", "DVInstructPix2PixOptions",
                                                           image_guidance_scale=INF),
        DV("op", "DVInstructPix2PixOptions", "image_guidance_scale")),
    row("easyanimate-options-noise-aug-nan", lambda: with_options(cog(), "c3", "DVEasyAnimateOptions",
                                                                  noise_aug_strength=NAN),
        DV("op", "DVEasyAnimateOptions", "noise_aug_strength")),

    # --- negative and huge numbers ------------------------------------------------------------------------------
    row("sampler-steps-zero", lambda: changed(cog(), {"c3.num_inference_steps": 0}),
        DV("c3", "DVSampler", "num_inference_steps")),
    row("sampler-steps-negative", lambda: changed(cog(), {"c3.num_inference_steps": -3}),
        DV("c3", "DVSampler", "num_inference_steps")),
    row("mochi-one-step", lambda: changed(mochi(), {"m3.num_inference_steps": 1}),
        DV("m3", "DVSampler", "num_inference_steps", "at least 2")),
    row("sampler-width-negative", lambda: changed(cog(), {"c3.width": -64}), DV("c3", "DVSampler", "width")),
    row("sampler-height-zero", lambda: changed(cog(), {"c3.height": 0}), DV("c3", "DVSampler", "height")),
    row("sampler-frames-negative", lambda: changed(cog(), {"c3.num_frames": -3}), DV("c3", "DVSampler", "num_frames")),
    row("sampler-seed-negative", lambda: changed(cog(), {"c3.seed": -1}), DV("c3", "DVSampler", "seed")),
    row("sampler-seed-over-64-bits", lambda: changed(cog(), {"c3.seed": 2**70}), DV("c3", "DVSampler", "seed")),
    row("sampler-guidance-negative", lambda: changed(cog(), {"c3.guidance_scale": -5.0}),
        DV("c3", "DVSampler", "guidance_scale")),
    row("text-encode-max-length-zero", lambda: changed(cog(), {"c2.max_sequence_length": 0}),
        DV("c2", "DVTextEncode", "max_sequence_length")),
    row("text-encode-max-length-negative", lambda: changed(cog(), {"c2.max_sequence_length": -5}),
        DV("c2", "DVTextEncode", "max_sequence_length")),
    row("decode-chunk-negative", lambda: changed(cog(), {"c4.decode_chunk_size": -1}),
        DV("c4", "DVVAEDecode", "decode_chunk_size")),
    row("decode-tile-size-negative", lambda: changed(cog(), {"c4.tile_sample_size": -64}),
        DV("c4", "DVVAEDecode", "tile_sample_size")),
    row("combine-fps-negative", lambda: changed(cog(), {"c5.fps": -8.0}), DV("c5", "DVVideoCombine", "fps")),
    row("combine-crf-out-of-range", lambda: changed(cog(), {"c5.format": "video/h264-mp4", "c5.crf": 99}),
        DV("c5", "DVVideoCombine", "crf")),
    row("combine-loop-count-negative", lambda: changed(cog(), {"c5.loop_count": -2}),
        DV("c5", "DVVideoCombine", "loop_count")),
    row("load-video-cap-negative", lambda: load_video(frame_load_cap=-1), DV("v1", "DVLoadVideo", "frame_load_cap")),
    row("load-video-every-nth-zero", lambda: load_video(select_every_nth=0),
        DV("v1", "DVLoadVideo", "select_every_nth")),
    row("load-video-skip-everything", lambda: load_video(skip_first_frames=10**9),
        DV("v1", "DVLoadVideo", "skip_first_frames")),
    row("load-video-width-negative", lambda: load_video(width=-8), DV("v1", "DVLoadVideo", "width")),
    row("scheduler-solver-order-negative", lambda: changed(wan(), {"w3.scheduler": ["sc", 0]}, {"sc": {
        "class_type": "DVScheduler", "inputs": {"scheduler": "UniPC", "timestep_spacing": "from model",
                                                "solver_order": -1}}}), DV("sc", "DVScheduler", "solver_order")),
    row("step-cache-skip-range-zero", lambda: speed(cog(), "DVStepCache", **{**STEP_CACHE, "skip_range": 0}),
        DV("sp", "DVStepCache", "skip_range")),
    row("offload-blocks-zero", lambda: speed(cog(), "DVOffload", **{**OFFLOAD, "offload": "group offload: block_level",
                                                                   "num_blocks_per_group": 0}),
        DV("sp", "DVOffload", "num_blocks_per_group")),
    row("offload-stream-without-cuda", lambda: speed(cog(), "DVOffload", **{
        **OFFLOAD, "offload": "group offload: block_level", "use_stream": True}), DV("sp", "DVOffload", "use_stream")),
    row("svd-options-motion-bucket-negative", lambda: with_options(svd(), "s3", "DVSVDOptions", fps=7,
                                                                   motion_bucket_id=-1, noise_aug_strength=0.02,
                                                                   min_guidance_scale=1.0),
        DV("op", "DVSVDOptions", "motion_bucket_id")),

    # --- sizes and frame counts the family cannot take ------------------------------------------------------------
    row("cog-width-not-multiple-of-16", lambda: changed(cog(), {"c3.width": 72}), DV("c3", "DVSampler", "width")),
    row("cog-height-not-multiple-of-16", lambda: changed(cog(), {"c3.height": 40}), DV("c3", "DVSampler", "height")),
    row("cog-frames-not-4k-plus-1", lambda: changed(cog(), {"c3.num_frames": 10}), DV("c3", "DVSampler", "num_frames")),
    row("cog-i2v-size-not-learned", lambda: changed(cog_i2v(), {"i3.width": 96}), DV("i3", "DVSampler", "width")),
    row("cog-v2v-more-frames-than-video", lambda: changed(cog_v2v(), {"c3.num_frames": 13}),
        DV("c3", "DVSampler", "video")),
    row("svd-one-frame", lambda: changed(svd(), {"s3.num_frames": 1}), DV("s3", "DVSampler", "num_frames")),
    row("svd-width-not-multiple-of-8", lambda: changed(svd(), {"s3.width": 60}), DV("s3", "DVSampler", "width")),
    row("animatediff-width-36", lambda: changed(animatediff(), {"a5.width": 36}), DV("a5", "DVSampler", "width")),
    row("wan-frames-not-4k-plus-1", lambda: changed(wan(), {"w3.num_frames": 8}), DV("w3", "DVSampler", "num_frames")),
    row("controlnet-frames-differ", lambda: changed(zero(), {"z6.num_frames": 3}), DV("z6", "DVSampler", "num_frames")),

    # --- options whose wire or model is missing, and ranges given backwards ---------------------------------------
    row("animatediff-strength-without-video", lambda: with_options(animatediff(), "a5", "DVAnimateDiffOptions",
                                                                   **{**ANIMATEDIFF_OPTIONS, "strength": 0.5}),
        DV("a5", "DVSampler", "options")),
    row("animatediff-free-noise-past-positions", lambda: with_options(animatediff(), "a5", "DVAnimateDiffOptions",
                                                                      **{**ANIMATEDIFF_OPTIONS, "context_length": 40}),
        DV("a5", "DVSampler", "options")),
    row("cog-strength-without-video", lambda: with_options(cog(), "c3", "DVCogVideoXOptions", use_dynamic_cfg=False,
                                                           strength=0.5), DV("c3", "DVSampler", "options")),
    row("cog-i2v-without-image", lambda: changed(cog_i2v(), {"i3.image": DROP}), DV("i3", "DVSampler", "image")),
    row("cog-v2v-without-vae", lambda: changed(cog_v2v(), {"c3.vae": DROP}), DV("c3", "DVSampler", "vae")),
    row("cog-text-without-conditioning", lambda: changed(cog(), {"c3.conditioning": DROP}),
        DV("c3", "DVSampler", "conditioning")),
    row("svd-without-image", lambda: changed(svd(), {"s3.image": DROP}), DV("s3", "DVSampler", "image")),
    row("svd-options-on-cog", lambda: with_options(cog(), "c3", "DVSVDOptions", fps=7, motion_bucket_id=127,
                                                   noise_aug_strength=0.02, min_guidance_scale=1.0),
        DV("c3", "DVSampler", "options")),
    row("ltx-options-on-cog", lambda: with_options(cog(), "c3", "DVLTXOptions", frame_rate=24, decode_timestep=0.03,
                                                   decode_noise_scale=0.025, guidance_rescale=0.0),
        DV("c3", "DVSampler", "options")),
    row("ltx2-options-on-cog", lambda: with_options(cog(), "c3", "DVLTX2Options", frame_rate=24.0, stg_scale=1.0,
                                                    spatio_temporal_guidance_blocks="28", modality_scale=3.0,
                                                    guidance_rescale=0.7, audio_guidance_scale=7.0,
                                                    audio_stg_scale=1.0, audio_modality_scale=3.0,
                                                    audio_guidance_rescale=0.7, use_cross_timestep=True, image_crf=33),
        DV("c3", "DVSampler", "options")),
    # Sound asked of a video-only model: LTX-2 makes sound, CogVideoX does not.
    row("audio-decode-of-cog", lambda: changed(cog(), {"c5.audio": ["c6", 0]}, {"c6": {
        "class_type": "DVAudioDecode", "inputs": {"model": ["c1", 0], "samples": ["c3", 0]}}}),
        DV("c6", "DVAudioDecode", "model", "LTX-2 makes sound")),
    row("skyreels-v2-options-on-cog", lambda: with_options(cog(), "c3", "DVSkyReelsV2Options", base_num_frames=97,
                                                           overlap_history=17, addnoise_condition=20.0, ar_step=0,
                                                           causal_block_size=0, fps=24),
        DV("c3", "DVSampler", "options")),
    row("ltx-keyframe-past-the-last-frame", lambda: changed(ltx_keyframe(), {"xk.frame_index": 12}),
        DV("x3", "DVSampler", "options", "frame_index")),
    row("ltx-condition-clip-of-another-aspect", lambda: changed(ltx_keyframe(), {
        "xk.image": DROP, "xk.video": ["xv", 0], "xk.frame_index": 0, "xv.frame_load_cap": 9}),
        DV("x3", "DVSampler", "options", "aspect")),
    row("ltx-condition-image-and-video", lambda: changed(ltx_keyframe(), {"xk.video": ["xv", 0]}),
        DV("xk", "DVLTXCondition", "image")),
    row("ltx-keyframe-ok", ltx_keyframe, OK(wrote_file("x5"))),
    row("ltx-upsampler-not-listed", lambda: changed(ltx_keyframe(True), {"xl.latent_upsampler": "diffusers/nothing"}),
        Invalid("xl", "latent_upsampler")),
    row("ltx-upsample-with-another-familys-vae", lambda: changed(ltx_keyframe(True), {"xu.vae": ["c1", 1]},
                                                                          {"c1": cog()["c1"]}),
        DV("xu", "DVLTXUpsampleLatent", "vae")),
    row("ltx-refine-another-familys-latent", lambda: changed(ltx_keyframe(True), {"xr.samples": ["c3", 0]},
                                                                        {k: cog()[k] for k in ("c1", "c2", "c3")}),
        DV("xr", "DVLTXRefineLatent", "samples")),
    row("ltx-refined-at-the-small-size", lambda: changed(ltx_keyframe(True), {"x6.width": 64, "x6.height": 32}),
        DV("x6", "DVSampler", "width")),
    row("ltx-two-stage-ok", lambda: ltx_keyframe(True), OK(wrote_file("x5"))),
    row("hunyuan-options-on-cog", lambda: with_options(cog(), "c3", "DVHunyuanVideoOptions", true_cfg_scale=1.0,
                                                       latent_window_size=9, sampling_type="inverted_anti_drifting"),
        DV("c3", "DVSampler", "options")),
    row("i2vgenxl-options-on-cog", lambda: with_options(cog(), "c3", "DVI2VGenXLOptions", target_fps=16),
        DV("c3", "DVSampler", "options")),
    row("cosmos-options-on-cog", lambda: with_options(cog(), "c3", "DVCosmosOptions",
                                                      guardrail="off: I take responsibility for the outputs", fps=16,
                                                      num_latent_conditional_frames=2),
        DV("c3", "DVSampler", "options")),
    row("chronoedit-options-on-cog", lambda: with_options(cog(), "c3", "DVChronoEditOptions",
                                                          enable_temporal_reasoning=True,
                                                          num_temporal_reasoning_steps=1),
        DV("c3", "DVSampler", "options")),
    row("chronoedit-reasoning-steps-negative", lambda: with_options(cog(), "c3", "DVChronoEditOptions",
                                                                    enable_temporal_reasoning=True,
                                                                    num_temporal_reasoning_steps=-1),
        DV("op", "DVChronoEditOptions", "num_temporal_reasoning_steps")),
    row("easyanimate-options-on-cog", lambda: with_options(cog(), "c3", "DVEasyAnimateOptions",
                                                           noise_aug_strength=0.0563),
        DV("c3", "DVSampler", "options")),
    row("t2v-zero-options-on-cog", lambda: with_options(cog(), "c3", "DVText2VideoZeroOptions", **T2VZ),
        DV("c3", "DVSampler", "options")),
    row("t2v-zero-t0-after-t1", lambda: t2v_zero(t0=2, t1=1),
        DV("op", "DVText2VideoZeroOptions", frozenset({"t0", "t1"}))),
    row("t2v-zero-t1-past-the-steps", lambda: t2v_zero(t0=1, t1=9), DV("t6", "DVSampler", "options")),
    row("t2v-zero-ok", t2v_zero, OK(wrote_file("t8"))),
    row("step-cache-window-reversed", lambda: speed(cog(), "DVStepCache", **{**STEP_CACHE, "timestep_start": 800,
                                                                             "timestep_end": 100}),
        DV("sp", "DVStepCache", frozenset({"timestep_start", "timestep_end"}))),
    row("step-cache-window-empty", lambda: speed(cog(), "DVStepCache", **{**STEP_CACHE, "timestep_start": 500,
                                                                          "timestep_end": 500}),
        DV("sp", "DVStepCache", frozenset({"timestep_start", "timestep_end"}))),
    row("step-cache-magcache-garbage-ratios", lambda: speed(cog(), "DVStepCache", **{
        **STEP_CACHE, "cache": "MagCache", "mag_ratios": "1.0, abc, \x00"}), DV("sp", "DVStepCache", "mag_ratios")),
    row("cross-frame-attention-on-cog", lambda: changed(cog(), {"c3.model": ["cf", 0]}, {"cf": {
        "class_type": "DVCrossFrameAttention", "inputs": {"model": ["c1", 0]}}}),
        DV("cf", "DVCrossFrameAttention", "model")),
    row("control-on-cog", lambda: changed(zero(), {"z6.model": ["c1", 0], "z6.conditioning": ["c2", 0],
                                                   "z6.width": 64, "z6.height": 48, "z6.num_frames": 9},
                                          {"c1": cog()["c1"], "c2": cog()["c2"]}), DV("z6", "DVSampler", "control")),
    row("attention-backend-on-cog", lambda: speed(cog(), "DVAttentionBackend", backend="native"),
        DV("sp", "DVAttentionBackend", "model")),
    # (CogVideoX's transformer has no context-parallel plan; both are refused before any worker starts)
    row("parallel-on-cog", lambda: speed(cog(), "DVParallel", degree=2, mode="ulysses", timeout_s=60.0),
        DV("sp", "DVParallel", "model")),
    row("parallel-degree-1000", lambda: speed(cog(), "DVParallel", degree=1000, mode="ulysses", timeout_s=60.0),
        DV("sp", "DVParallel", "degree")),
    row("lora-low-noise-expert-on-one-expert", lambda: changed(cog(), {"c3.model": ["lo", 0]}, {"lo": {
        "class_type": "DVLoraLoader", "inputs": {"model": ["c1", 0], "lora": "cog_lora.safetensors", "strength": 1.0,
                                                 "expert": "low-noise expert (transformer_2)"}}}),
        DV("lo", "DVLoraLoader", "expert")),
    row("model-loader-boundary-ratio-one-expert", lambda: changed(cog(), {"c3.model": ["m1", 0]}, {"m1": {
        "class_type": "DVModelLoader", "inputs": {"model": "tiny-cogvideox/transformer", "dtype": "fp32",
                                                  "boundary_ratio": 0.5}}}),
        DV("m1", "DVModelLoader", "boundary_ratio")),
    row("cog-i2v-max-sequence-length-untrained", lambda: changed(cog_i2v(), {"i2.max_sequence_length": 100}),
        DV("i3", "DVSampler", "conditioning")),
    row("text-encode-too-long-without-truncation", lambda: changed(cog(), {
        "c2.prompt": PROMPT_WORDS, "c2.max_sequence_length": 16, "c2.truncate_long_prompt": False}),
        DV("c2", "DVTextEncode", "prompt")),
    row("text-encode-empty-prompt", lambda: changed(cog(), {"c2.prompt": ""}), DV("c3", "DVSampler", "conditioning")),
    row("cog-v2v-strength-leaves-no-step", lambda: changed(cog_v2v(), {"o1.strength": 0.1}),
        DV("c3", "DVSampler", "options")),
    row("combine-video-and-images", lambda: changed(cog_v2v(), {"c5.video": ["v1", 4]}),
        DV("c5", "DVVideoCombine", "video")),
    row("combine-without-frames", lambda: changed(cog(), {"c5.images": DROP}), DV("c5", "DVVideoCombine", "images")),
    row("download-off", lambda: {"d1": {"class_type": "DVDownloadModel", "inputs": {"repo_id": "THUDM/CogVideoX-2b"}}},
        DV("d1", "DVDownloadModel", "repo_id")),
    row("download-repo-id-escapes", lambda: {"d1": {"class_type": "DVDownloadModel", "inputs": {
        "repo_id": "../../etc/passwd", "name": "../../outside"}}}, DV("d1", "DVDownloadModel", frozenset({"repo_id",
                                                                                                           "name"}))),
    row("scheduler-flow-shift-on-ddim", lambda: changed(cog(), {"c3.scheduler": ["sc", 0]}, {"sc": {
        "class_type": "DVScheduler", "inputs": {"scheduler": "DDIM", "timestep_spacing": "from model",
                                                "flow_shift": 3.0}}}), DV("sc", "DVScheduler", "flow_shift")),
    row("scheduler-flow-matching-on-cog", lambda: changed(cog(), {"c3.scheduler": ["sc", 0]}, {"sc": {
        "class_type": "DVScheduler", "inputs": {"scheduler": "FlowMatch Euler", "timestep_spacing": "from model"}}}),
        DV("c3", "DVSampler", "scheduler")),
    row("scheduler-ok", lambda: changed(cog(), {"c3.scheduler": ["sc", 0]}, {"sc": {
        "class_type": "DVScheduler", "inputs": {"scheduler": "CogVideoX DPM", "timestep_spacing": "trailing"}}}),
        OK(wrote_file("c5"))),
    row("lora-ok", lambda: lora(0.5),
        OK(wrote_file("c5"))),
    row("model-loader-ok", lambda: changed(cog(), {"c3.model": ["m1", 0]}, {"m1": {
        "class_type": "DVModelLoader", "inputs": {"model": "tiny-cogvideox/transformer", "dtype": "fp32"}}}),
        OK(wrote_file("c5"))),
    row("text-encode-control-characters-ok", lambda: changed(cog(), {"c2.prompt": "a cat\x00 with a bell\x07\r\n\t"}),
        OK(wrote_file("c5"))),
    row("step-cache-ok", lambda: speed(cog(), "DVStepCache", **STEP_CACHE),
        OK(wrote_file("c5"))),
    row("decode-memory-auto-ok", lambda: changed(cog(), {"c4.memory": "auto"}), OK(wrote_file("c5"))),
    row("image-input-options-ok", lambda: with_options(cog_i2v(), "i3", "DVImageInputOptions", resize_mode="crop"),
        OK(wrote_file("i5"))),
    row("combine-preview-only-ok", lambda: changed(cog(), {"c5.save_output": False}), OK(wrote_file("c5"))),

    # --- output names ----------------------------------------------------------------------------------------
    row("combine-prefix-newline", lambda: changed(cog(), {"c5.filename_prefix": "run\nnext"}),
        DV("c5", "DVVideoCombine", "filename_prefix")),
    row("combine-prefix-nul", lambda: changed(cog(), {"c5.filename_prefix": "run\x00.mp4"}),
        DV("c5", "DVVideoCombine", "filename_prefix")),
    row("combine-prefix-escape-character", lambda: changed(cog(), {"c5.filename_prefix": "run\x1b[31m"}),
        DV("c5", "DVVideoCombine", "filename_prefix")),
    row("combine-prefix-300-characters", lambda: changed(cog(), {"c5.filename_prefix": LONG}),
        DV("c5", "DVVideoCombine", "filename_prefix")),
    row("combine-prefix-parent-folder", lambda: changed(cog(), {"c5.filename_prefix": "../../escape"}),
        DV("c5", "DVVideoCombine", "filename_prefix")),
    row("combine-prefix-absolute", lambda: changed(cog(), {"c5.filename_prefix": "/tmp/escape"}),
        DV("c5", "DVVideoCombine", "filename_prefix")),
    row("combine-prefix-nul-mp4", lambda: changed(cog(), {"c5.filename_prefix": "a\x00b",
                                                          "c5.format": "video/h264-mp4"}),
        DV("c5", "DVVideoCombine", "filename_prefix")),
    row("combine-prefix-bidi-override", lambda: changed(cog(), {"c5.filename_prefix": "run\u202egif.exe"}),
        DV("c5", "DVVideoCombine", "filename_prefix")),
    row("save-latent-prefix-bidi-override", lambda: latent_save("\u202eevil"),
        DV("l1", "DVSaveLatent", "filename_prefix")),
    row("save-latent-prefix-nul", lambda: latent_save("lat\x00ent"), DV("l1", "DVSaveLatent", "filename_prefix")),
    row("save-latent-prefix-300-characters", lambda: latent_save(LONG), DV("l1", "DVSaveLatent", "filename_prefix")),
    row("save-latent-prefix-parent-folder", lambda: latent_save("../escape"),
        DV("l1", "DVSaveLatent", "filename_prefix")),

    # --- DVLoadVideo's path: only ComfyUI's input, output and temp folders ---------------------------------------
    row("load-video-path-system-file", lambda: load_video(path="/etc/passwd"), DV("v1", "DVLoadVideo", "path")),
    row("load-video-path-missing", lambda: load_video(path="/nonexistent/clip.mp4"), DV("v1", "DVLoadVideo", "path")),
    row("load-video-path-relative-escape", lambda: load_video(path="../outside/secret.mp4"),
        DV("v1", "DVLoadVideo", "path")),
    row("load-video-path-home", lambda: load_video(path="~/secret.mp4"), DV("v1", "DVLoadVideo", "path")),
    row("load-video-path-not-a-video", lambda: load_video(path="notes.txt"), DV("v1", "DVLoadVideo", "path")),
    row("load-video-path-damaged", lambda: load_video(path="fake.mp4"), DV("v1", "DVLoadVideo", "path")),
    row("load-video-path-nul", lambda: load_video(path="clip\x00.mp4"), DV("v1", "DVLoadVideo", "path")),
    row("load-video-path-inside-input-ok", lambda: load_video(path="clip.mp4"), OK(wrote_file("v2"))),

    # --- broken model folders and files: which file, what is wrong ----------------------------------------------
    row("broken-truncated-safetensors", lambda: cog("b", "broken-truncated"),
        DV("b1", "DVPipelineLoader", "model", r"transformer.diffusion_pytorch_model\.safetensors")),
    row("broken-model-index-json", lambda: cog("b", "broken-index"),
        DV("b1", "DVPipelineLoader", "model", r"model_index\.json")),
    row("broken-vae-config-json", lambda: cog("b", "broken-vae-config"),
        DV("b1", "DVPipelineLoader", "model", r"vae.config\.json")),
    row("broken-missing-weights", lambda: cog("b", "broken-missing-weights"),
        DV("b1", "DVPipelineLoader", "model", r"transformer")),
    row("broken-pickle-weights", lambda: cog("b", "broken-pickle"),
        DV("b1", "DVPipelineLoader", "model", r"diffusion_pytorch_model\.bin")),  # holds a non-tensor object
    row("broken-empty-vae-weights", lambda: cog("b", "broken-empty-weights"),
        DV("b1", "DVPipelineLoader", "model", r"vae.diffusion_pytorch_model\.safetensors")),
    row("broken-truncated-text-encoder", lambda: cog("b", "broken-text-encoder"),
        DV("b1", "DVPipelineLoader", "model", r"text_encoder")),
    row("broken-model-loader-truncated", lambda: changed(cog(), {"c3.model": ["m2", 0]}, {"m2": {
        "class_type": "DVModelLoader", "inputs": {"model": "broken-truncated/transformer", "dtype": "fp32"}}}),
        DV("m2", "DVModelLoader", "model", r"diffusion_pytorch_model\.safetensors")),
    row("broken-vae-loader-config", lambda: changed(cog(), {"c4.vae": ["vb", 0]}, {"vb": {
        "class_type": "DVVAELoader", "inputs": {"vae": "broken-vae-config/vae", "dtype": "fp32"}}}),
        DV("vb", "DVVAELoader", "vae", r"config\.json")),
    row("broken-text-encoder-loader", lambda: changed(cog(), {"c2.text_encoder": ["tb", 0]}, {"tb": {
        "class_type": "DVTextEncoderLoader", "inputs": {"text_encoder": "broken-text-encoder/text_encoder",
                                                        "dtype": "fp32"}}}),
        DV("tb", "DVTextEncoderLoader", "text_encoder", r"safetensors")),
    row("broken-motion-adapter", lambda: changed(animatediff(), {"a2.motion_adapter": "broken-adapter"}),
        DV("a2", "DVMotionAdapterLoader", "motion_adapter", r"safetensors")),
    row("broken-controlnet-config", lambda: changed(zero(), {"z2.controlnet": "broken-controlnet"}),
        DV("z2", "DVControlNetLoader", "controlnet", r"config\.json")),
    row("broken-checkpoint-truncated", lambda: animatediff({"class_type": "DVCheckpointLoader", "inputs": {
        "ckpt_name": "truncated_sd15.safetensors", "dtype": "fp32"}}), DV("a1", "DVCheckpointLoader", "ckpt_name")),
    row("broken-lora-file", lambda: changed(cog(), {"c3.model": ["lo", 0]}, {"lo": {
        "class_type": "DVLoraLoader", "inputs": {"model": ["c1", 0], "lora": "not_a_lora.safetensors",
                                                 "strength": 1.0}}}), DV("lo", "DVLoraLoader", "lora")),
    row("broken-checkpoint-config-folder", lambda: animatediff({"class_type": "DVCheckpointLoader", "inputs": {
        "ckpt_name": "tiny_sd15.safetensors", "dtype": "fp32", "config": "broken-index"}}),
        DV("a1", "DVCheckpointLoader", "config", r"model_index\.json")),
    row("pipeline-nf4-without-cuda", lambda: changed(cog("x"), {"x1.weights": "nf4 (bitsandbytes, CUDA)"}),
        DV("x1", "DVPipelineLoader", "weights")),
]


# ------------------------------------------------------------------------------------------- running


@pytest.fixture(scope="module")
def box(tmp_path_factory):
    with sandbox(tmp_path_factory) as made:
        yield made


@pytest.fixture(scope="module")
def executor(box):
    return Executor(NODES)


def test_catalogue_is_large_and_covers_every_node():
    assert len(ROWS) >= 80
    used = set()
    for param in ROWS:
        prompt, answer = param.values
        try:
            used |= {spec["class_type"] for spec in prompt().values()}
        except Exception:  # noqa: BLE001 - a builder that cannot run is reported by its own row
            continue
    assert set(NODE_CLASS_MAPPINGS) - used == set()


@pytest.mark.parametrize("make_prompt,answer", ROWS)
def test_bad_input(make_prompt, answer, box, executor):
    prompt = make_prompt()
    before = box.snapshot()
    outcome: Any = None
    try:
        outcome = executor.run(prompt, {"workflow": {"catalogue": True}})
    except (PromptError, NodeExecutionError) as error:
        outcome = error
    after = box.snapshot()
    assert box.strays(before, after) == [], "files written outside the output folder"
    assert box.partials(before, after) == [], "half-written files left behind"

    if isinstance(answer, Invalid):
        assert isinstance(outcome, PromptError), f"expected a validation error, got {outcome!r}"
        assert answer.node in outcome.node_errors, outcome.node_errors
        errors = outcome.node_errors[answer.node]["errors"]
        assert outcome.node_errors[answer.node]["class_type"] == prompt[answer.node]["class_type"]
        if answer.input:
            assert any(e["extra_info"].get("input_name") == answer.input for e in errors), errors
            assert any(answer.input in e["message"] for e in errors), errors
    elif isinstance(answer, DV):
        assert isinstance(outcome, NodeExecutionError), f"expected {answer.class_type}'s DV error, got {outcome!r}"
        assert (outcome.node_id, outcome.class_type) == (answer.node, answer.class_type), str(outcome)
        wanted = answer.input if isinstance(answer.input, str) else set(answer.input)
        given = tuple(v for spec in prompt.values() for v in spec["inputs"].values() if isinstance(v, str))
        check_dv_error(outcome.original, answer.class_type, wanted, answer.contains, given)
        assert box.partials(before, after) == [] and not [
            p for p in set(after) - set(before) if p.startswith(box.output) and answer.class_type in (
                "DVVideoCombine", "DVSaveLatent")], "an output file was written before the error"
    else:
        assert not isinstance(outcome, Exception), f"expected a correct output, got {outcome!r}"
        if answer.check:
            answer.check(outcome, box)


def test_rows_name_declared_inputs():
    """A row's pinned input is one the node declares (a typo would make a row unpassable)."""
    for param in ROWS:
        prompt, answer = param.values
        if isinstance(answer, DV):
            names = {answer.input} if isinstance(answer.input, str) else set(answer.input)
            assert names <= declared_inputs(NODE_CLASS_MAPPINGS[answer.class_type]), (param.id, names)


def test_nan_rows_really_carry_nan():
    """The NaN rows send NaN (the JSON literal becomes float('nan') in ComfyUI's server)."""
    nan_rows = [p for p in ROWS if "nan" in p.id and "string" not in p.id]
    assert len(nan_rows) >= 10
    for param in nan_rows:
        prompt = param.values[0]()
        assert any(isinstance(v, float) and math.isnan(v) for spec in prompt.values() for v in spec["inputs"].values())


def test_outside_paths_answer_alike(box, executor):
    """DVLoadVideo's path outside the allowed folders: an existing video and a missing file get the same answer
    (apart from the path itself), so the answer does not tell which files exist."""
    answers = []
    for name in ("secret.mp4", "no-such-file.mp4"):
        path = os.path.join(box.outside, name)
        before = box.snapshot()
        with pytest.raises(NodeExecutionError) as info:
            executor.run(load_video(path=path))
        assert box.strays(before, box.snapshot()) == []
        check_dv_error(info.value.original, "DVLoadVideo", "path", echoed=(path,))
        answers.append(str(info.value.original).replace(path, "<path>").replace(name, "<name>"))
    assert answers[0] == answers[1]
