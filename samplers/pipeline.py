"""Running a family's diffusers pipeline as the denoising loop of DVSampler.

The loop itself is the reference pipeline's own `__call__` with `output_type="latent"`: that is what makes
the node graph reproduce the reference frames exactly, and it keeps every family's quirks (dynamic CFG,
padding frames, scheduler special cases) where diffusers maintains them. This module adds what ComfyUI
needs around it: memory-manager loading, a per-step progress bar that is also the interrupt point, latent
previews, and a seed that covers every random draw.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from .. import host
from ..parallel import group as parallel_group
from . import finite


@dataclass(frozen=True)
class SampleParams:
    width: int
    height: int
    num_frames: int
    num_inference_steps: int
    guidance_scale: float
    seed: int


@dataclass(frozen=True)
class SampleInputs:
    """What besides the model and the numbers a sampler run was given (None where nothing is wired)."""

    conditioning: Any = None  # DVConditioning
    vae: Any = None  # DVVAE, for families that encode an input image or video
    image: Any = None  # IMAGE [N, H, W, C]: the first frame / reference image
    video: Any = None  # IMAGE [F, H, W, C]: frames for video-to-video
    options: dict[str, Any] | None = None  # merged DV_SAMPLER_OPTIONS values
    control: Any = None  # DVControl: a ControlNet with its control frames

    def option(self, name: str, default: Any) -> Any:
        return (self.options or {}).get(name, default)


def assemble(pipeline_cls: type, config: dict[str, Any] | None = None, **components: Any):
    """A pipeline holding only the components one step needs (the rest None). diffusers pipelines take every
    component as a required argument but run without those a call does not touch; the glue modules build
    one per encode or sample call around the modules the graph loaded.

    `config` is the model's pipeline config (DVModel.pipeline_config: model_index.json's non-component
    entries, such as Wan2.2's boundary_ratio); the entries the pipeline class takes reach it, as its
    from_pretrained would pass them."""
    import inspect

    accepted = inspect.signature(pipeline_cls.__init__).parameters
    parts: dict[str, Any] = {name: None for name, p in accepted.items()
                             if name != "self" and p.default is inspect.Parameter.empty}
    parts.update({key: value for key, value in (config or {}).items() if key in accepted})
    parts.update(components)
    return pipeline_cls(**parts)


@contextlib.contextmanager
def denoisers_loaded(model: Any, *others: Any) -> Iterator[None]:
    """The model's denoiser(s) and `others` (ManagedModules) on the compute device through the memory manager.

    A model with several denoisers (Wan2.2 A14B's two experts) runs them one after the other inside one
    pipeline call, so each is loaded when it is about to run (a forward pre-hook), not both up front: the
    memory manager can then evict the idle expert to make room. The hooks are removed afterwards."""
    denoisers = list(model.denoisers().values())
    host.load_to_device([*others, *([] if len(denoisers) > 1 else denoisers)])
    if len(denoisers) == 1:
        yield
        return
    current: list[Any] = [None]

    def loader(managed):
        def before_forward(_module, _args):
            if current[0] is not managed:  # once per switch, not on every call of a step
                host.load_to_device([managed])
                current[0] = managed

        return before_forward

    handles = [managed.module.register_forward_pre_hook(loader(managed)) for managed in denoisers]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[Any]:
    """A CPU generator for the pipeline plus the global RNGs seeded the same way.

    Some pipelines draw without the generator (e.g. I2VGen-XL samples the VAE posterior with the global
    RNG), so the node's seed must cover those draws too for a seed to reproduce a video. The global state
    is restored afterwards so other nodes are not affected. The generator is on the CPU, as ComfyUI's own
    noise is, so a seed gives the same video on any device.
    """
    import torch

    devices = [torch.cuda.current_device()] if torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield torch.Generator(device="cpu").manual_seed(seed)


def step_callback(total_steps: int, previewer: Callable[[Any], Any] | None,
                  to_preview_layout: Callable[[Any], Any],
                  predicted: dict[str, Any] | None = None,
                  fixed_total: bool = False) -> tuple[Callable, host.Progress]:
    """A diffusers `callback_on_step_end` that ticks ComfyUI's progress bar (and so its interrupt) and previews
    the step's predicted clean sample (`predicted["x0"]`, see predicting_clean_samples), as ComfyUI's own
    samplers do, or the current latents where the scheduler gives no prediction."""
    progress = host.Progress(total_steps, desc="sampling")

    def on_step_end(pipe, step: int, timestep, tensors: dict[str, Any]) -> dict[str, Any]:
        finite.check_latents(pipe, step, tensors.get("latents"))  # NaN/inf (an fp16 overflow): stop, say so
        preview = None
        if previewer is not None and "latents" in tensors:
            x0 = (predicted or {}).pop("x0", None)
            shown = x0 if x0 is not None and x0.shape == tensors["latents"].shape else tensors["latents"]
            preview = previewer(to_preview_layout(shown))
        # The steps the pipeline really runs (video-to-video runs strength x steps): the bar ends at 100%.
        # fixed_total: the caller counted the steps of every chunk of a chunked run (SkyReels-V2's long
        # videos), where num_timesteps is the current chunk's alone.
        runs = 0 if fixed_total else int(getattr(pipe, "num_timesteps", 0) or 0)
        if runs:
            progress.total = runs
        parallel_group.stop_if_any_rank_stops()
        progress.update(1, preview)
        return {}

    return on_step_end, progress


@contextlib.contextmanager
def predicting_clean_samples(scheduler: Any, predicted: dict[str, Any]) -> Iterator[None]:
    """Wrap the scheduler's `step` to keep each step's prediction of the clean sample for the preview.

    The step is called exactly as the pipeline calls it and its result returned untouched (the frames do not
    change). The prediction is the scheduler's own `pred_original_sample` where its output has one (DDIM,
    Euler, CogVideoX DPM); for flow-matching schedulers, which keep none, it is `sample - sigma * velocity`
    (what UniPC's flow_prediction computes internally)."""
    original = scheduler.step
    flow = getattr(scheduler.config, "prediction_type", "") == "flow_prediction" or type(scheduler).__name__.startswith(
        "FlowMatch")

    def step(model_output, timestep, sample, *args, **kwargs):
        out = original(model_output, timestep, sample, *args, **kwargs)
        sigma = None
        index, sigmas = getattr(scheduler, "step_index", None), getattr(scheduler, "sigmas", None)
        if flow and index is not None and sigmas is not None and 0 < index <= len(sigmas):
            sigma = sigmas[index - 1]  # the step just taken (step() moved the index on)
        x0 = getattr(out, "pred_original_sample", None)
        if x0 is None and isinstance(out, tuple) and len(out) > 1 and hasattr(out[1], "shape"):
            x0 = out[1]
        if x0 is None and sigma is not None and hasattr(model_output, "shape") and model_output.shape == sample.shape:
            x0 = sample - sigma.to(sample.device, sample.dtype) * model_output
        predicted["x0"] = None if x0 is None else x0.detach()
        return out

    own = "step" in vars(scheduler)  # a glue module may have wrapped it already (I2VGen-XL's callback)
    scheduler.step = step
    try:
        yield
    finally:
        if own:
            scheduler.step = original
        else:
            vars(scheduler).pop("step", None)  # the class's own method again


_RUNNING: list[Any] = []  # the pipeline run_denoise is driving, for hooks that ask it for the timestep


@contextlib.contextmanager
def step_hook_on_scheduler(pipe: Any, callback_on_step_end: Callable[..., Any] | None,
                           to_latents: Callable[[Any], Any] = lambda prev: prev) -> Iterator[None]:
    """For pipelines without `callback_on_step_end` (I2VGen-XL, HunyuanVideo 1.5): the hook run_denoise drives
    (progress, interrupt, previews) rides on the run's scheduler, whose step the loop calls once per denoising
    step; `to_latents` turns the stepped sample into the [B, C, F, H, W] the hook expects. For this run only."""
    if callback_on_step_end is None:
        yield
        return
    scheduler = pipe.scheduler
    plain_step = scheduler.step
    calls = [0]

    def step(model_output, timestep, sample, *step_args: Any, **step_kwargs: Any):
        out = plain_step(model_output, timestep, sample, *step_args, **step_kwargs)
        prev = out.prev_sample if hasattr(out, "prev_sample") else out[0]
        callback_on_step_end(pipe, calls[0], timestep, {"latents": to_latents(prev)})
        calls[0] += 1
        return out

    own = "step" in vars(scheduler)  # another wrapper (the preview's prediction) may sit beneath
    scheduler.step = step  # an instance attribute, shadowing the method for this run only
    try:
        yield
    finally:
        if own:
            scheduler.step = plain_step
        else:
            vars(scheduler).pop("step", None)


def current_timestep() -> int:
    """The timestep of the step in progress (diffusers' step caches call this from their hooks)."""
    pipe = _RUNNING[-1] if _RUNNING else None
    value = getattr(pipe, "_current_timestep", None)
    if value is None:
        return -1  # outside a step: inside no skip range
    return int(value.flatten()[0].item() if hasattr(value, "flatten") else value)


def run_denoise(pipe, call_kwargs: dict[str, Any], params: SampleParams, family_preview_format: str | None,
                to_preview_layout: Callable[[Any], Any], legacy_callback: bool = False,
                output_attr: str | tuple[str, ...] = "frames",
                after: Callable[[Any], None] | None = None, total_steps: int | None = None,
                clean_previews: bool = True):
    """Call the pipeline for latents with progress, interrupt and previews wired in.

    legacy_callback: the pipeline only has the old `callback(step, timestep, latents)` hook (the deprecated
    text-to-video pipelines), not `callback_on_step_end`. output_attr: where the pipeline's output object
    keeps the latents ("images" for the image pipelines run frame by frame; a tuple of names gives a tuple, as
    LTX-2's video and audio latents). after: called with the run's
    generator once the pipeline returns, for draws the pipeline would make after its latent output (LTX's
    decode noise), so they continue the same random stream. total_steps: the steps of the whole run where the
    pipeline loops over chunks that each count their own (diffusion forcing). clean_previews=False: preview the
    current latents, not the scheduler's clean prediction, for pipelines that step deep copies of their scheduler
    (one per frame in diffusion forcing), which would all call the wrapped original's step.
    """
    pipe.set_progress_bar_config(disable=True)
    previewer = host.latent_previewer(family_preview_format)
    predicted: dict[str, Any] = {}
    callback, progress = step_callback(total_steps or params.num_inference_steps, previewer, to_preview_layout,
                                       predicted, fixed_total=total_steps is not None)
    if legacy_callback:
        hooks = {"callback": lambda step, timestep, latents: callback(pipe, step, timestep, {"latents": latents}),
                 "callback_steps": 1}
    else:
        hooks = {"callback_on_step_end": callback, "callback_on_step_end_tensor_inputs": ["latents"]}
    _RUNNING.append(pipe)
    scheduler = getattr(pipe, "scheduler", None)
    watching = (predicting_clean_samples(scheduler, predicted) if previewer and scheduler and clean_previews
                else contextlib.nullcontext())
    try:
        with seeded(params.seed) as generator, watching:
            # The output object's .frames, not return_dict=False: SVD returns a bare tensor there, others a tuple.
            made = pipe(**call_kwargs, generator=generator, output_type="latent", **hooks)
            output = (tuple(getattr(made, name) for name in output_attr) if isinstance(output_attr, tuple)
                      else getattr(made, output_attr))
            if after is not None:
                after(generator)
            progress.finish()  # pipelines that call back less often than they step (Text2Video-Zero) end at 100%
            return output
    finally:
        _RUNNING.pop()
        progress.close()
