"""The objects that travel between the pack's nodes (DV_MODEL, DV_VAE, DV_TEXT_ENCODER, DV_SCHEDULER,
DV_CONDITIONING). Each carries its family so a wrong wire is caught with a clear message."""

from __future__ import annotations

import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from ..families.spec import Family, LatentGeometry
from ..host import ManagedModule

# Every DV_MODEL alive that carries LoRAs (ComfyUI's node cache keeps the outputs of the graphs it holds): an
# adapter injected into a shared module that none of them names any more is deleted (model_loaders/lora.py).
WIRES_WITH_LORAS: weakref.WeakSet = weakref.WeakSet()


@dataclass(eq=False)
class DVModel:
    """The denoiser(s) of one family, registered with the memory manager, and the pipeline config they run
    under. Most models have one denoiser (`managed`); Wan2.2 A14B has a second expert for the low-noise
    steps (`more_denoisers["transformer_2"]`). Every add-on (LoRA, caches, offload, compile, fp8, the memory
    manager) acts on each denoiser: `experts()` gives one view per denoiser for that."""

    managed: ManagedModule
    family: Family
    geometry: LatentGeometry
    source: str
    scheduler: DVSchedulerSpec | None = None  # the scheduler saved beside the model, if any
    companions: dict[str, Any] = field(default_factory=dict)  # image encoder, feature extractor, ... by role
    loras: tuple[Any, ...] = ()  # DVLora entries (model_loaders/lora.py), switched on only while sampling
    cross_frame: bool = False  # DVCrossFrameAttention: every frame attends to the first while sampling
    step_cache: Any = None  # DVStepCacheSpec (model_loaders/step_cache.py), installed only while sampling
    compile: Any = None  # DVCompileSpec (model_loaders/acceleration.py), compiled for the runs of this wire
    attention_backend: str | None = None  # a diffusers attention dispatcher backend, set while sampling
    offload: Any = None  # DVOffloadSpec (model_loaders/offload.py): offloading/chunking for this wire's runs
    more_denoisers: dict[str, ManagedModule] = field(default_factory=dict)  # role -> expert, after `managed`
    pipeline_config: dict[str, Any] = field(default_factory=dict)  # model_index.json's non-component entries
    role: str = "transformer"  # the pipeline argument `managed` goes into ("transformer", "unet")
    parallel: Any = None  # DVParallelSpec (nodes/parallel.py): this wire's runs spread over worker processes

    def __post_init__(self) -> None:
        if self.loras:
            WIRES_WITH_LORAS.add(self)

    @property
    def module(self):
        return self.managed.module

    def denoisers(self) -> dict[str, ManagedModule]:
        """Every denoiser by the pipeline argument it goes into, in the order the pipeline runs them."""
        return {self.role: self.managed, **self.more_denoisers}

    def experts(self) -> list[DVModel]:
        """One view per denoiser, each with the LoRAs that target it, for the add-ons that act on one module."""
        return [replace(self, managed=managed, role=role, more_denoisers={},
                        loras=tuple(lora for lora in self.loras if lora.targets(role)))
                for role, managed in self.denoisers().items()]

    def managed_companions(self) -> list[ManagedModule]:
        return [c for c in self.companions.values() if isinstance(c, ManagedModule)]


@dataclass(eq=False)
class DVControlNet:
    """DV_CONTROLNET: an SD1.5 ControlNet, registered with the memory manager."""

    managed: ManagedModule
    source: str

    @property
    def module(self):
        return self.managed.module


@dataclass(eq=False)
class DVControl:
    """DV_CONTROL: a ControlNet with one control image per frame and its strength."""

    controlnet: DVControlNet
    frames: Any  # IMAGE [F, H, W, 3] in 0..1
    strength: float
    cross_frame: bool = False


@dataclass(eq=False)
class DVVAE:
    managed: ManagedModule
    family: Family
    source: str

    @property
    def module(self):
        return self.managed.module

    @property
    def geometry(self) -> LatentGeometry:
        return geometry_from_config(self.module.config, self.family)


@dataclass(eq=False)
class DVTextEncoder:
    managed: ManagedModule
    tokenizer: Any
    family: Family
    source: str
    extras: dict[str, Any] = field(default_factory=dict)  # text_encoder_2 / tokenizer_2 where a family has two

    @property
    def module(self):
        return self.managed.module


FLOW_PREDICTION = "flow_prediction"
# Multistep solvers that diffusers can run on flow sigmas (use_flow_sigmas); the others are DDPM-only.
# HeliosScheduler is Helios's UniPC on flow sigmas (prediction_type flow_prediction in its config).
FLOW_CAPABLE = ("UniPCMultistepScheduler", "DPMSolverMultistepScheduler", "HeliosScheduler")


@dataclass(frozen=True)
class DVSchedulerSpec:
    """A scheduler recipe: class name, base config and overrides.

    A fresh instance is made per sampler run, because diffusers schedulers keep per-run state (timesteps,
    step index) that must not leak between graph branches or queue runs. A recipe without a base config
    (DVScheduler with nothing wired into `base`) takes the model's own scheduler config as its base, so
    switching to another class keeps the model's noise schedule (betas, prediction type, shift).
    """

    class_name: str | None
    config: tuple[tuple[str, Any], ...] = ()
    overrides: tuple[tuple[str, Any], ...] = ()
    source: str = ""

    @classmethod
    def from_scheduler(cls, scheduler, source: str = "") -> DVSchedulerSpec:
        return cls(type(scheduler).__name__, _freeze(dict(scheduler.config)), (), source)

    @classmethod
    def from_config_dict(cls, class_name: str, config: dict[str, Any], source: str = "") -> DVSchedulerSpec:
        return cls(class_name, _freeze(config), (), source)

    def config_dict(self) -> dict[str, Any]:
        return {k: _thaw(v) for k, v in self.config}

    def on_top_of(self, base: DVSchedulerSpec) -> DVSchedulerSpec:
        """This recipe with `base` filling in what it leaves open."""
        return DVSchedulerSpec(
            self.class_name or base.class_name,
            self.config or base.config,
            tuple(sorted({**dict(base.overrides), **dict(self.overrides)}.items())),
            self.source or base.source,
        )

    @property
    def is_flow_matching(self) -> bool:
        """FlowMatch schedulers, and multistep ones run on flow sigmas (Wan's UniPC with flow_shift)."""
        if self.class_name and self.class_name.startswith("FlowMatch"):
            return True
        config = {**self.config_dict(), **dict(self.overrides)}
        flow_config = bool(config.get("use_flow_sigmas")) or config.get("prediction_type") == FLOW_PREDICTION
        return self.class_name in FLOW_CAPABLE and flow_config

    @staticmethod
    def accepted_keys(class_name: str) -> frozenset[str]:
        """The config keys a diffusers scheduler class takes (its __init__ parameters)."""
        import inspect

        import diffusers

        return frozenset(inspect.signature(getattr(diffusers, class_name).__init__).parameters) - {"self"}

    def create(self):
        import diffusers

        config = {**self.config_dict(), **{k: _thaw(v) for k, v in self.overrides}}
        if self.class_name.startswith("FlowMatch") and "flow_shift" in config and "shift" not in config:
            config["shift"] = config["flow_shift"]  # the same shift under FlowMatch's name, e.g. from Wan's UniPC
        return getattr(diffusers, self.class_name).from_config(config)


def _freeze(config: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
    return tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in config.items()))


def _thaw(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


@dataclass(eq=False)
class DVConditioning:
    """Text embeddings for one prompt and its negative prompt, from one family's text encoder."""

    family: Family
    prompt: str
    negative_prompt: str
    embeds: dict[str, Any]  # the pipeline's own keyword names: prompt_embeds, negative_prompt_embeds, ...
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class DVSamplerOptions:
    """Family extras for DVSampler (e.g. SVD's motion_bucket_id), from the options nodes; they chain."""

    family_ids: tuple[str, ...]  # families the values apply to
    values: tuple[tuple[str, Any], ...]
    source: str  # the node that made them, for messages

    def merged_with(self, earlier: DVSamplerOptions | None) -> DVSamplerOptions:
        """Both sets of values, for the families both apply to: a chain of two families' options fits
        neither (the sampler refuses it rather than ignore half of the values)."""
        if earlier is None:
            return self
        return DVSamplerOptions(
            tuple(f for f in earlier.family_ids if f in self.family_ids),
            tuple({**dict(earlier.values), **dict(self.values)}.items()),
            f"{earlier.source}+{self.source}",
        )


def geometry_from_config(cfg: Mapping[str, Any], family: Family) -> LatentGeometry:
    """The latent geometry of a VAE, read from its config (the family's default where it is silent).

    VAE configs name these differently (CogVideoX: block_out_channels / temporal_compression_ratio /
    latent_channels; Wan: scale_factor_spatial / scale_factor_temporal / z_dim), so each is looked up
    under every name diffusers uses."""
    default = family.geometry
    if family.vae_geometry is not None:  # a VAE whose config says it another way (LTX-Video)
        return family.vae_geometry(cfg, default)
    if "scale_factor_spatial" in cfg:
        spatial = int(cfg["scale_factor_spatial"])
    elif "block_out_channels" in cfg:
        spatial = 2 ** (len(cfg["block_out_channels"]) - 1)
    else:
        spatial = default.spatial
    temporal = cfg.get("scale_factor_temporal", cfg.get("temporal_compression_ratio", default.temporal))
    channels = cfg.get("z_dim", cfg.get("latent_channels", default.channels))
    return LatentGeometry(
        spatial=spatial,
        temporal=int(temporal),
        channels=int(channels),
        scaling_factor=float(cfg.get("scaling_factor", default.scaling_factor)),
    )
