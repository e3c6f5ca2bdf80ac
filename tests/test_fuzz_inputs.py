"""Property-based fuzzing of every node's declared inputs (issue 12, item 7).

For each node in NODE_CLASS_MAPPINGS, hypothesis draws a value for every input its INPUT_TYPES declares: inside
and outside the declared ranges, NaN and infinities, numbers as strings, odd strings (control characters, NUL,
300 characters, paths), wrong Python types, combo values not in the list, missing optional wires and wrong
objects on wires. A widget value first goes through what ComfyUI's validation does with it (int()/float()/str()
conversion, min/max and the combo list, skipped for inputs the node's VALIDATE_INPUTS names): a value it refuses
is ComfyUI's validation error, an allowed answer. A value that arrives through a link (a primitive, a math
node, a reroute) skips those checks in ComfyUI, and the in-process executor checks no ranges at all: such
values reach the node as they are. Then the node's FUNCTION is called directly.

Property: a valid output, or a DVInputError that names this node, one of its declared inputs, and a non-empty
"Valid:" text; never another exception; never a file outside the output folder.

The expensive work is stubbed so the whole run stays around a minute: DVSampler stops where the family's
diffusers pipeline would start denoising (after every check of the pack, and after the pipeline's own
check_inputs, which must not refuse what the pack let through), DVVAEDecode stops where the VAE would decode.
Inputs that set a pixel size are capped (no 8k frames on a CPU). test_end_to_end_* run the real graph at capped
sizes on the tiny models through the executor.
"""

from __future__ import annotations

import contextlib
import inspect
import math
import os
from collections import Counter
from typing import Any

import pytest
import torch
from bad_input_support import check_dv_error, declared_inputs, sandbox, unservable
from diffusers_video import NODE_CLASS_MAPPINGS
from diffusers_video.errors import DVInputError
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

NAN, INF = float("nan"), float("inf")
# No shrinking: a failing example is reported as drawn, so a known defect costs no extra minutes.
SETTINGS = dict(derandomize=True, deadline=None, database=None, print_blob=False,
                phases=[Phase.explicit, Phase.reuse, Phase.generate], suppress_health_check=list(HealthCheck))

# Examples per node: cheap nodes get more; loaders (each valid example loads a tiny model) and the nodes that
# write or read video files fewer. The total is what CI runs (asserted >= 1000 in test_example_total).
DEFAULT_EXAMPLES = 45
EXAMPLES = {
    "DVPipelineLoader": 15, "DVModelLoader": 15, "DVVAELoader": 15, "DVTextEncoderLoader": 15,
    "DVMotionAdapterLoader": 15, "DVCheckpointLoader": 12, "DVControlNetLoader": 15, "DVApplyMotionAdapter": 15,
    "DVLoraLoader": 30, "DVSampler": 150, "DVVAEDecode": 60, "DVTextEncode": 50, "DVVideoCombine": 60,
    "DVLoadVideo": 50, "DVSaveLatent": 40, "DVDownloadModel": 40,
}
# Inputs that set how many pixels get made: values drawn up to this (both in and out of range), so an
# example never asks a CPU for an 8k video; what lies above is the catalogue's and ComfyUI's range check's.
SIZE_CAPS = {("DVLoadVideo", "width"): 128, ("DVLoadVideo", "height"): 128, ("DVSampler", "width"): 4096,
             ("DVSampler", "height"): 4096, ("DVSampler", "num_frames"): 1025,
             ("DVVAEDecode", "tile_sample_size"): 4096, ("DVTextEncode", "max_sequence_length"): 4097}
WIRED_PIXEL_CAP = 256 * 256  # DVSampler with an image or video wired resizes it to width x height
SCALE = int(os.environ.get("DV_FUZZ_SCALE", "1"))  # more examples for a longer exploring run (CI: 1)

ODD_STRINGS = ["", " ", "nan", "inf", "-1", "1e400", "0x10", "abc", "a\nb", "a\rb", "a\x00b", "\x00", "\x07bell",
               "\x1b[31mred", "x" * 300, "../../etc/passwd", "/etc/passwd", "..", ".", "~/x", "C:\\x", "CON",
               "con.mp4", "a/b/c", "a\\b", "%s%n", "{0}", "ünïcödé", "\u202eevil", "clip.mp4", "clip.mp4 [output]",
               "tiny-cogvideox", "tiny-cogvideox/transformer", "cog_lora.safetensors"]
WRONG_TYPES = [None, [], [1, 2], {"a": 1}, b"bytes", object]

EXAMPLES_RUN: Counter = Counter()
OUTCOMES: Counter = Counter()
NODE_OUTCOMES: dict[str, Counter] = {}


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


# What must hold of the inputs when a node got as far as its expensive work or an output (its checks let the
# values through): a frame of height 0 or a NaN guidance that "works" is a silently wrong output, not a valid one.
BEFORE_WORK = {
    "DVSampler": lambda kw: (all(_finite(kw[n]) and kw[n] >= 1 for n in ("width", "height", "num_frames",
                                                                       "num_inference_steps"))
                             and _finite(kw["guidance_scale"]) and 0 <= kw["seed"] < 2**64),
    "DVVAEDecode": lambda kw: (kw["decode_chunk_size"] >= 0 and kw["tile_sample_size"] >= 0
                               and _finite(kw["tile_overlap"]) and 0 <= kw["tile_overlap"] < 1),
    "DVVideoCombine": lambda kw: (kw.get("video") is not None or (_finite(kw["fps"]) and kw["fps"] > 0))
                                 and kw["loop_count"] >= 0,
    "DVTextEncode": lambda kw: kw["max_sequence_length"] >= 1,
    "DVLoraLoader": lambda kw: _finite(kw["strength"]),
    "DVApplyControlNet": lambda kw: _finite(kw["strength"]) and kw["strength"] >= 0,
    "DVStepCache": lambda kw: (_finite(kw["threshold"]) and kw["skip_range"] >= 1
                               and (kw["timestep_start"] < kw["timestep_end"]  # the window, where it is used
                                    or kw["cache"] not in ("PyramidAttentionBroadcast", "FasterCache"))),
    "DVOffload": lambda kw: kw["num_blocks_per_group"] >= 1 and kw["forward_chunk_size"] >= 0,
    "DVLoadVideo": lambda kw: all(kw.get(n, 0) >= 0 for n in ("frame_load_cap", "skip_first_frames", "width",
                                                               "height")) and kw.get("select_every_nth", 1) >= 1,
}
for _options in ("DVCogVideoXOptions", "DVWanOptions", "DVLTXOptions", "DVHunyuanVideoOptions", "DVSVDOptions",
                 "DVI2VGenXLOptions", "DVText2VideoZeroOptions", "DVInstructPix2PixOptions"):
    BEFORE_WORK[_options] = lambda kw: all(_finite(v) for v in kw.values() if isinstance(v, float))


class ComfyRefused(Exception):
    """What ComfyUI's prompt validation answers for this value (the node never runs)."""


class ReachedPipeline(BaseException):
    """The stub's signal: every check passed and the expensive work would start here (a BaseException, so no
    `except Exception` on the way turns it into something else)."""


# ------------------------------------------------------------------------------------------- sandbox


@pytest.fixture(scope="module")
def box(tmp_path_factory):
    with sandbox(tmp_path_factory) as made:
        yield made


@pytest.fixture(scope="module")
def standins(box):
    """Small valid objects for every wired type, made once: tiny CogVideoX, SD1.5, ControlNet, motion adapter."""
    from diffusers_video import host
    from diffusers_video.nodes.controlnet import DVApplyControlNet, DVControlNetLoader
    from diffusers_video.nodes.loaders import DVMotionAdapterLoader, DVPipelineLoader
    from diffusers_video.nodes.options import DVImageInputOptions
    from diffusers_video.nodes.sampling import DVTextEncode

    with torch.inference_mode():
        model, vae, text_encoder, scheduler = DVPipelineLoader().load("tiny-cogvideox", "fp32")
        sd_model, sd_vae, sd_text_encoder, _ = DVPipelineLoader().load("tiny-sd15", "fp32")
        (conditioning,) = DVTextEncode().encode(text_encoder, "a red panda", "", 226, True)
        (controlnet,) = DVControlNetLoader().load("tiny-controlnet", "fp32")
        frames = torch.rand(9, 48, 64, 3)
        (control,) = DVApplyControlNet().apply(controlnet, torch.rand(4, 32, 32, 3), 1.0)
        (adapter,) = DVMotionAdapterLoader().load("tiny-motion-adapter", "fp32")
        (options,) = DVImageInputOptions().build("default")
    latent = {"samples": torch.randn(1, 4, 3, 6, 8), "dv_family": "cogvideox", "dv_num_frames": 9}
    audio = {"waveform": torch.zeros(1, 1, 8000), "sample_rate": 8000}
    right = {
        "DV_MODEL": [model, sd_model], "DV_VAE": [vae], "DV_TEXT_ENCODER": [text_encoder, sd_text_encoder],
        "DV_SCHEDULER": [scheduler], "DV_CONDITIONING": [conditioning], "LATENT": [latent],
        "IMAGE": [frames, frames[:1], torch.rand(4, 32, 32, 3)], "DV_SAMPLER_OPTIONS": [options],
        "DV_CONTROLNET": [controlnet], "DV_CONTROL": [control], "DV_MOTION_ADAPTER": [adapter], "AUDIO": [audio],
        "VIDEO": [host.make_video(frames, 8.0)],
    }
    # Anything of another type, as a reroute ("*") would deliver it.
    everything = [value for values in right.values() for value in values] + [sd_vae, 3, "text", None]
    return right, everything


@contextlib.contextmanager
def stubbed():
    """Stop DVSampler where denoising starts (after the pipeline's own check_inputs) and DVVAEDecode where the
    VAE decodes."""
    import diffusers
    from diffusers_video.families import all_families

    def stop_before_denoising(pipe, call_kwargs, *args, **kwargs):
        pipeline_check_inputs(pipe, call_kwargs)
        raise ReachedPipeline

    def stop_before_decoding(*args, **kwargs):
        raise ReachedPipeline

    with pytest.MonkeyPatch.context() as patch:
        for family in all_families():
            glue = family.load_glue()
            if hasattr(glue, "run_denoise"):
                patch.setattr(glue, "run_denoise", stop_before_denoising)
        for name in VAE_CLASSES:
            patch.setattr(getattr(diffusers, name), "decode", stop_before_decoding)
        yield


VAE_CLASSES = ("AutoencoderKLCogVideoX", "AutoencoderKL", "AutoencoderKLTemporalDecoder", "AutoencoderKLWan")


def pipeline_check_inputs(pipe, call_kwargs: dict) -> None:
    """The pipeline's own check_inputs on what the pack was about to pass: diffusers refusing it here means the
    pack let through a value it should have answered first, in its own words."""
    check = getattr(pipe, "check_inputs", None)
    if check is None:
        return
    known = {"prompt": None, "negative_prompt": None, "callback_on_step_end_tensor_inputs": ["latents"],
             "image": None, "video": None, "strength": None, **call_kwargs}
    arguments = {}
    for name, parameter in inspect.signature(check).parameters.items():
        if name in known:
            arguments[name] = known[name]
        elif parameter.default is inspect.Parameter.empty:
            arguments[name] = None
    try:
        check(**arguments)
    except (ValueError, TypeError) as error:
        if "Provide either" in str(error) or "Cannot forward" in str(error):
            return  # the stand-in arguments above, not the pack's
        raise AssertionError(f"the pipeline's check_inputs refuses what the pack let through: {error}") from None


# ------------------------------------------------------------------------------------------- strategies


def comfy_widget(cls: type, name: str, spec: tuple, value: Any) -> Any:
    """ComfyUI's validate_inputs for a widget value: convert, check the range and the combo list, except for the
    inputs VALIDATE_INPUTS takes over."""
    kind, options = spec[0], (spec[1] if len(spec) > 1 else {})
    taken_over = set(inspect.signature(cls.VALIDATE_INPUTS).parameters) if hasattr(cls, "VALIDATE_INPUTS") else set()
    if name in taken_over:
        return value
    if isinstance(kind, list):
        if value not in kind:
            raise ComfyRefused(f"value not in list: {name}: {value!r}")
        return value
    try:
        value = {"INT": int, "FLOAT": float, "STRING": str, "BOOLEAN": bool}.get(kind, lambda v: v)(value)
    except (TypeError, ValueError, OverflowError) as error:
        raise ComfyRefused(f"failed to convert {name}: {error}") from None
    if kind in ("INT", "FLOAT"):
        if "min" in options and value < options["min"]:
            raise ComfyRefused(f"{name} smaller than min")
        if "max" in options and value > options["max"]:
            raise ComfyRefused(f"{name} bigger than max")
    return value


def number_values(node: str, name: str, kind: str, options: dict) -> tuple[st.SearchStrategy, st.SearchStrategy]:
    """(linked values: the right Python type, any size; widget values: also strings and wrong types)."""
    low = options.get("min", -(2**31) if kind == "INT" else -1e6)
    high = options.get("max", 2**31 if kind == "INT" else 1e6)
    cap = SIZE_CAPS.get((node, name))
    if cap is not None:
        high = min(high, cap)
    if kind == "INT":
        inside = st.integers(int(low), int(high))
        edges = st.sampled_from(sorted({int(low), int(high), int(options.get("default", low))}))
        outside = st.sampled_from([int(low) - 1, -1, 0, -(2**63), *([] if cap else [int(high) + 1, 2**64, 2**70])])
        linked = st.one_of(inside, edges, outside)
    else:
        inside = st.floats(low, high, allow_nan=False)
        edges = st.sampled_from(sorted({float(low), float(high), float(options.get("default", low))}))
        outside = st.sampled_from([low - 1.0, -1.0, -0.0, -1e308, NAN, INF, -INF,
                                   *([] if cap else [high + 1.0, 1e308])])
        linked = st.one_of(inside, edges, outside)
    widget = st.one_of(linked, st.sampled_from(ODD_STRINGS + WRONG_TYPES + [True, 1.5, "12", " 7 "]))
    return linked, widget


def input_values(cls: type, node: str, name: str, spec: tuple, required: bool, standins) -> st.SearchStrategy:
    """(how it arrives, value) pairs for one input: "widget", "linked" or "missing"."""
    right, everything = standins
    kind, options = spec[0], (spec[1] if len(spec) > 1 else {})
    if isinstance(kind, list):
        listed = st.sampled_from(kind) if kind else st.nothing()
        odd = st.sampled_from(ODD_STRINGS)
        # A link into a combo comes from a combo-typed output, which carries a value of the list: only the inputs
        # VALIDATE_INPUTS takes over (file names) can get anything that way.
        taken_over = name in (inspect.signature(cls.VALIDATE_INPUTS).parameters
                              if hasattr(cls, "VALIDATE_INPUTS") else ())
        draws = st.one_of(st.tuples(st.just("widget"), st.one_of(listed, listed, odd)),
                          st.tuples(st.just("linked"), odd if taken_over or not kind else listed))
    elif kind in ("INT", "FLOAT"):
        linked, widget = number_values(node, name, kind, options)
        draws = st.one_of(st.tuples(st.just("widget"), widget), st.tuples(st.just("linked"), linked))
    elif kind == "STRING":
        text = st.one_of(st.sampled_from(ODD_STRINGS), st.text(max_size=40),
                         st.just(options.get("default", "")))
        draws = st.one_of(st.tuples(st.just("widget"), st.one_of(text, st.sampled_from(WRONG_TYPES))),
                          st.tuples(st.just("linked"), text))
    elif kind == "BOOLEAN":
        draws = st.one_of(st.tuples(st.just("widget"), st.sampled_from([True, False, 0, 1, "false", None])),
                          st.tuples(st.just("linked"), st.booleans()))
    else:  # a wire: the right object, or whatever a reroute brings
        good = st.sampled_from(right[kind]) if kind in right else st.nothing()
        draws = st.tuples(st.just("linked"), st.one_of(good, good, good, st.sampled_from(everything)))
    if not required:
        draws = st.one_of(st.just(("missing", None)), draws)
    return draws


# Valid values where the declared default would make an example too big or not fit the stand-ins (the tiny
# CogVideoX at 64x48, 9 frames).
GOOD = {("DVSampler", "width"): [64, 32, 48], ("DVSampler", "height"): [48, 32], ("DVSampler", "num_frames"): [9, 5],
        ("DVSampler", "num_inference_steps"): [1, 2], ("DVTextEncode", "max_sequence_length"): [226, 16],
        ("DVLoadVideo", "video"): ["clip.mp4"], ("DVLoraLoader", "lora"): ["cog_lora.safetensors"],
        ("DVVideoCombine", "filename_prefix"): ["fuzz/run"], ("DVSaveLatent", "filename_prefix"): ["fuzz/latent"]}
# Wires a valid DVSampler example has: the CogVideoX model and its conditioning, nothing that would not apply.
GOOD_WIRES = {("DVSampler", "model"): 0, ("DVSampler", "conditioning"): 0, ("DVSampler", "scheduler"): 0,
              **{("DVSampler", name): None for name in ("vae", "image", "video", "options", "control")},
              ("DVCrossFrameAttention", "model"): 1, ("DVCrossFrameAttention", "control"): 0,
              ("DVApplyMotionAdapter", "model"): 1, ("DVTextEncode", "text_encoder"): 0}


def good_values(node: str, name: str, spec: tuple, required: bool, standins) -> st.SearchStrategy:
    """A valid (how, value) for one input: a listed choice, an in-range widget value, the right object."""
    right, _ = standins
    kind, options = spec[0], (spec[1] if len(spec) > 1 else {})
    if (node, name) in GOOD_WIRES:
        index = GOOD_WIRES[node, name]
        return st.just(("missing", None) if index is None else ("linked", right[kind][index]))
    if (node, name) in GOOD:
        draws = st.tuples(st.just("widget"), st.sampled_from(GOOD[node, name]))
    elif isinstance(kind, list):
        # An empty list (no latent saved yet): any name, which the node's VALIDATE_INPUTS lets through.
        draws = st.tuples(st.just("widget"), st.sampled_from(kind or ODD_STRINGS))
    elif kind in ("INT", "FLOAT"):
        low, high = options.get("min", 0), options.get("max", 100)
        high = min(high, SIZE_CAPS.get((node, name), high))
        inside = st.integers(int(low), int(high)) if kind == "INT" else st.floats(low, high, allow_nan=False)
        draws = st.tuples(st.just("widget"), st.one_of(st.just(options.get("default", low)), inside))
    elif kind == "STRING":
        draws = st.tuples(st.just("widget"), st.just(options.get("default", "a red panda")))
    elif kind == "BOOLEAN":
        draws = st.tuples(st.just("widget"), st.booleans())
    else:
        draws = st.tuples(st.just("linked"), st.sampled_from(right[kind])) if kind in right else st.nothing()
    if not required:
        draws = st.one_of(st.just(("missing", None)), draws)
    return draws


def node_inputs(cls: type, node: str, standins) -> st.SearchStrategy:
    """Every input valid but one or two (or none), which get anything: one bad value at a time is what tells
    whether each input is checked, where all-bad examples would only ever test the first check."""
    types = cls.INPUT_TYPES()
    specs = {name: (spec, section == "required") for section in ("required", "optional")
             for name, spec in types.get(section, {}).items()}

    @st.composite
    def draw(draw_from):
        bad = draw_from(st.sets(st.sampled_from(sorted(specs)), max_size=2)) if specs else set()
        return {name: draw_from(input_values(cls, node, name, spec, required, standins) if name in bad
                                else good_values(node, name, spec, required, standins))
                for name, (spec, required) in specs.items()}

    return draw()


def prepared(cls: type, drawn: dict[str, tuple[str, Any]]) -> dict[str, Any]:
    """The keyword arguments the node gets, or ComfyRefused."""
    types = cls.INPUT_TYPES()
    declared = {**types.get("required", {}), **types.get("optional", {})}
    kwargs = {}
    for name, (how, value) in drawn.items():
        if how == "missing":
            continue
        kwargs[name] = comfy_widget(cls, name, declared[name], value) if how == "widget" else value
    return kwargs


def capped(node: str, kwargs: dict[str, Any]) -> bool:
    """False for DVSampler examples that would resize a wired image or video to a huge frame."""
    if node != "DVSampler" or (kwargs.get("image") is None and kwargs.get("video") is None):
        return True
    width, height = kwargs.get("width"), kwargs.get("height")
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (width, height)):
        return True
    return abs(width * height) <= WIRED_PIXEL_CAP


# ------------------------------------------------------------------------------------------- the property


def answer(cls: type, node: str, kwargs: dict[str, Any]) -> str:
    """Run the node; return the class of answer, or fail the property."""
    hidden = {name: None for name in cls.INPUT_TYPES().get("hidden", {})}
    try:
        with torch.inference_mode():
            returned = getattr(cls(), cls.FUNCTION)(**kwargs, **hidden)
    except ReachedPipeline:
        return "reached the expensive work"
    except DVInputError as error:
        check_dv_error(error, node, declared_inputs(cls), echoed=tuple(kwargs.values()))
        return f"DV error on {error.input_name}"
    except AssertionError:
        raise
    except Exception as error:  # noqa: BLE001 - the property: nothing but a DV error
        raise AssertionError(f"{node} raised {type(error).__name__}: {error}") from error
    result = returned.get("result", ()) if isinstance(returned, dict) else returned
    assert isinstance(result, tuple) and len(result) == len(cls.RETURN_TYPES), returned
    if isinstance(returned, dict):  # a file it wrote must be one ComfyUI's /view can serve
        for entry in [e for entries in returned.get("ui", {}).values() if isinstance(entries, list)
                      for e in entries if isinstance(e, dict) and "filename" in e]:
            for part in (entry["filename"], entry.get("subfolder", "")):
                assert not unservable(part) and len(part.encode()) <= 255, f"{node} wrote a file named {part!r}"
    return "output"


def check_before_work(node: str, kwargs: dict[str, Any], outcome: str) -> None:
    rule = BEFORE_WORK.get(node)
    if rule is None or outcome not in ("output", "reached the expensive work"):
        return
    try:
        holds = rule(kwargs)
    except (KeyError, TypeError):  # an input of a type the rule cannot compare: the node let it through
        holds = False
    assert holds, f"{node} went on to work with values its checks should have refused ({outcome})"


def shown(kwargs: dict[str, Any]) -> dict[str, Any]:
    return {k: (type(v).__name__ if not isinstance(v, (int, float, str, bool, type(None))) else v)
            for k, v in kwargs.items()}


@pytest.mark.parametrize("node", sorted(NODE_CLASS_MAPPINGS))
def test_node_answers_by_name(node, box, standins):
    cls = NODE_CLASS_MAPPINGS[node]

    @settings(max_examples=EXAMPLES.get(node, DEFAULT_EXAMPLES) * SCALE, **SETTINGS)
    @given(drawn=node_inputs(cls, node, standins))
    def property_holds(drawn):
        EXAMPLES_RUN[node] += 1
        try:
            kwargs = prepared(cls, drawn)
        except ComfyRefused:
            OUTCOMES["ComfyUI validation error"] += 1
            NODE_OUTCOMES.setdefault(node, Counter())["ComfyUI validation error"] += 1
            return
        if not capped(node, kwargs):
            OUTCOMES["skipped: over the pixel cap"] += 1
            return
        before = box.snapshot()
        try:
            outcome = answer(cls, node, kwargs)
            check_before_work(node, kwargs, outcome)
        except AssertionError as error:
            raise AssertionError(f"{error}\n  inputs: {shown(kwargs)}") from None
        finally:
            after = box.snapshot()
        assert box.strays(before, after) == [], f"files outside the output folder for {shown(kwargs)}"
        assert box.partials(before, after) == [], f"half-written files for {shown(kwargs)}"
        OUTCOMES[outcome.split(" on ")[0]] += 1
        NODE_OUTCOMES.setdefault(node, Counter())[outcome] += 1

    with stubbed():
        property_holds()


def test_example_total():
    """At least 1000 examples per run across the nodes (when the whole module ran)."""
    if len(EXAMPLES_RUN) < len(NODE_CLASS_MAPPINGS):
        pytest.skip("only part of the module ran")
    total = sum(EXAMPLES_RUN.values())
    print(f"\nfuzz: {total} examples over {len(EXAMPLES_RUN)} nodes; outcomes {dict(OUTCOMES)}")
    for node, outcomes in sorted(NODE_OUTCOMES.items()):
        print(f"  {node}: {dict(outcomes)}")
    assert total >= 1000


# ------------------------------------------------------------------------------------------- end to end


def graph(width: int, height: int, frames: int, steps: int, guidance: float, seed: int, chunk: int, fps: float,
          prefix: str, fmt: str) -> dict:
    return {
        "1": {"class_type": "DVPipelineLoader", "inputs": {"model": "tiny-cogvideox", "dtype": "fp32"}},
        "2": {"class_type": "DVTextEncode", "inputs": {"text_encoder": ["1", 2], "prompt": "a red panda",
                                                       "negative_prompt": "blur", "max_sequence_length": 226,
                                                       "truncate_long_prompt": True}},
        "3": {"class_type": "DVSampler", "inputs": {
            "model": ["1", 0], "conditioning": ["2", 0], "width": width, "height": height, "num_frames": frames,
            "num_inference_steps": steps, "guidance_scale": guidance, "seed": seed}},
        "4": {"class_type": "DVVAEDecode", "inputs": {"vae": ["1", 1], "samples": ["3", 0], "decode_chunk_size": chunk,
                                                      "tiling": "off", "tile_sample_size": 0, "tile_overlap": 0.0}},
        "5": {"class_type": "DVVideoCombine", "inputs": {"images": ["4", 0], "fps": fps, "filename_prefix": prefix,
                                                         "format": fmt, "crf": 23, "loop_count": 0, "pingpong": False,
                                                         "save_output": True}},
    }


E2E_EXAMPLES = 12


def test_end_to_end_capped_sizes(box):
    """The real graph on the tiny CogVideoX at capped sizes with fuzzed widgets, through the executor (which
    checks combos and links, no ranges): an output or a DV error naming node and input, nothing stray."""
    from diffusers_video.runner.executor import Executor, NodeExecutionError, PromptError

    executor = Executor(NODE_CLASS_MAPPINGS)

    @settings(max_examples=E2E_EXAMPLES, **SETTINGS)
    @given(width=st.sampled_from([16, 32, 48, 64, 72, 0, -16]), height=st.sampled_from([16, 32, 48, 40]),
           frames=st.sampled_from([1, 5, 9, 8, 0, -3]), steps=st.sampled_from([1, 2, 0]),
           guidance=st.sampled_from([0.0, 1.0, 6.0, NAN, INF, -1.0]),
           seed=st.sampled_from([0, 1, 2**64 - 1, 2**64]), chunk=st.sampled_from([0, 1, 2, -1]),
           fps=st.sampled_from([8.0, 0.01, 240.0, NAN, 0.0]),
           prefix=st.sampled_from(["e2e/run", "e2e\nrun", "x" * 300, "../e2e", "e2e\x00"]),
           fmt=st.sampled_from(["image/gif", "video/h264-mp4", "image/webp", "video/vp9-webm"]))
    def property_holds(**values):
        EXAMPLES_RUN["end to end"] += 1
        before = box.snapshot()
        try:
            executor.run(graph(**values))
            OUTCOMES["e2e output"] += 1
        except PromptError:
            OUTCOMES["e2e ComfyUI validation error"] += 1
        except NodeExecutionError as error:
            try:
                check_dv_error(error.original, error.class_type,
                               declared_inputs(NODE_CLASS_MAPPINGS[error.class_type]), echoed=(values["prefix"],))
            except AssertionError as failure:
                raise AssertionError(f"{failure}\n  inputs: {values}") from None
            OUTCOMES["e2e DV error"] += 1
        after = box.snapshot()
        assert box.strays(before, after) == [], values
        assert box.partials(before, after) == [], values

    property_holds()
