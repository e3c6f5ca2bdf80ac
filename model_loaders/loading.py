"""Finding and loading diffusers components from ComfyUI's model folders.

Families are detected from the model's own config (`_class_name` in model_index.json / config.json),
never from file names. Only diffusers and transformers classes are instantiated: a folder that names any
other library would need remote code, which this pack never runs.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .. import host
from ..errors import DVInputError
from ..families import Family, all_families, family_for_class, task_for_pipeline
from ..memory import precision
from . import file_checks, gguf_files, single_file, storage
from .components import DVVAE, DVModel, DVSchedulerSpec, DVTextEncoder, geometry_from_config

if TYPE_CHECKING:
    import torch

DTYPES = list(precision.CHOICES)  # a list: ComfyUI treats only lists as combos
TRUSTED_LIBRARIES = ("diffusers", "transformers")
# DVPipelineLoader's dtype inputs of the components besides the denoiser, by the role each sets.
COMPONENT_DTYPE_INPUTS = {"vae": "vae_dtype", "text_encoder": "text_encoder_dtype",
                          "image_encoder": "image_encoder_dtype"}

log = logging.getLogger("DiffusersVideo")
_WARNED: set[tuple[str, str, str]] = set()


def component_dtype(family: Family | None, role: str, dtype_name: str, input_name: str = "dtype") -> torch.dtype:
    """The torch dtype of one component on this machine's device (memory/precision.py); a warning about the
    choice (fp16 for a DiT that overflows in it) is logged once per family, role and dtype."""
    dtype, warning = precision.component_dtype(family, role, dtype_name, host.torch_device(), input_name=input_name)
    key = (family.id if family else "", role, str(dtype))
    if warning and key not in _WARNED:
        _WARNED.add(key)
        log.warning("DiffusersVideo: %s", warning)
    return dtype


def torch_dtype(name: str) -> torch.dtype:
    """A dtype widget's value for a component of no known family ("auto": the device's default)."""
    return component_dtype(None, precision.DENOISER, name)


def _role(loader_role: str) -> str:
    """The precision role of a loader role ("model" is the denoiser)."""
    return precision.DENOISER if loader_role == "model" else loader_role


def read_json(path: str, input_name: str = "model") -> dict[str, Any]:
    """A config file; a damaged one is a DVInputError naming it (its folder and name) and the error's position."""
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError):
        shown = "/".join(os.path.normpath(path).split(os.sep)[-2:])
        raise DVInputError(input_name, f"'{shown}' {file_checks.json_problem(path)}.",
                           f"fix or re-download {shown} (it must be the JSON file the model was saved "
                           "with).") from None


def _from_pretrained(cls, folder: str, shown: str, library: str, input_name: str, **kwargs: Any):
    """cls.from_pretrained(folder, **kwargs), with a broken file in the folder answered in DV words: which file,
    what is wrong, what to do. Failures file_checks cannot explain re-raise as they are."""
    try:
        return cls.from_pretrained(folder, **kwargs)
    except Exception as error:  # noqa: BLE001 - only what file_checks explains is translated; the rest re-raises
        found = file_checks.diagnose(folder, shown, library, error)
        if found is None:
            raise
        raise DVInputError(input_name, *found) from error


def supported_pipelines() -> str:
    return ", ".join(name for fam in all_families() for name in fam.pipeline_classes.values())


# ----------------------------------------------------------------------------------------- listings


def list_pipeline_folders() -> list[str]:
    return host.list_diffusers_folders("diffusers", "model_index.json")


def list_component_folders(class_names: tuple[str, ...] | None, role: str) -> list[str]:
    """`<pipeline folder>/<subfolder>` entries whose config names a class of this role.

    role is "model", "vae" or "text_encoder"; class_names None means every family's classes of that role.
    """
    wanted = set(class_names or _all_classes(role))
    found = []
    for folder in list_pipeline_folders():
        path = host.resolve_in_folder("diffusers", folder)
        if path is None:
            continue
        try:
            index = read_json(os.path.join(path, "model_index.json"))
        except (OSError, ValueError):
            continue
        for sub, spec in index.items():
            if isinstance(spec, list) and len(spec) == 2 and spec[1] in wanted:
                found.append(f"{folder}/{sub}")
    return sorted(found)


def _all_classes(role: str) -> set[str]:
    attr = {"model": "model_classes", "vae": "vae_classes", "text_encoder": "text_encoder_classes"}[role]
    return {c for fam in all_families() for c in getattr(fam, attr)}


# ------------------------------------------------------------------------------------------ loading


def _component_class(library: str, class_name: str, input_name: str):
    if library not in TRUSTED_LIBRARIES and _is_diffusers_pipeline_module(library):
        # diffusers names a component defined in a pipeline's own package by that package (LTX-2's connectors
        # and vocoder: ["ltx2", "LTX2TextConnectors"]) and its from_pretrained looks it up there: diffusers code.
        library = f"diffusers.pipelines.{library}"
    elif library not in TRUSTED_LIBRARIES:
        raise DVInputError(
            input_name,
            f"the folder asks for {library}.{class_name}, which would need remote code.",
            "folders whose components are diffusers or transformers classes.",
        )
    module = importlib.import_module(library)
    cls = getattr(module, class_name, None)
    if cls is None:
        raise DVInputError(
            input_name,
            f"{library} {getattr(module, '__version__', '')} has no class {class_name}.",
            "upgrade the library or pick a folder made for this version.",
        )
    return cls


def _is_diffusers_pipeline_module(library: str) -> bool:
    import diffusers.pipelines

    return library.isidentifier() and not library.startswith("_") and hasattr(diffusers.pipelines, library)


def _resolve(kind: str, name: str, input_name: str) -> str:
    path = host.resolve_in_folder(kind, name)
    if path is None:
        where = ", ".join(host.folder_paths_for(kind)) or kind
        raise DVInputError(input_name, f"'{name}' was not found in the {kind} folder ({where}).",
                           "one of the names listed in the widget; refresh the page after adding models.")
    return path


def _is_module_class(cls: type) -> bool:
    import torch

    return isinstance(cls, type) and issubclass(cls, torch.nn.Module)


def load_pipeline_folder(name: str, dtype_name: str, input_name: str = "model", weights: str = "as dtype",
                         component_dtypes: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Every component of one diffusers folder, each registered with the memory manager; `weights` is the
    storage of the denoiser (and, for 4-bit, the text encoder): see storage.py.

    Precision: `dtype_name` is the denoiser's, and every other component's unless `component_dtypes` (role ->
    dtype name, the roles of COMPONENT_DTYPE_INPUTS) gives it one of its own other than "auto"; "auto" is the
    family's guide default for each component (memory/precision.py)."""
    storage.check(weights)
    overrides = dict(component_dtypes or {})
    for role, value in {precision.DENOISER: dtype_name, **overrides}.items():
        if value not in precision.CHOICES:
            raise DVInputError(COMPONENT_DTYPE_INPUTS.get(role, "dtype"), f"unknown dtype '{value}'.",
                               ", ".join(precision.CHOICES) + ".")
    path = _resolve("diffusers", name, input_name)
    index_path = os.path.join(path, "model_index.json")
    if not os.path.isfile(index_path):
        raise DVInputError(input_name, f"'{name}' has no model_index.json, so it is not a diffusers folder.",
                           "a folder saved by DiffusionPipeline.save_pretrained.")
    index = read_json(index_path, input_name)
    pipeline_class = index.get("_class_name", "?")
    family = family_for_class(pipeline_class)
    if family is None:
        raise DVInputError(input_name, f"'{name}' is a {pipeline_class} folder, which this pack does not run.",
                           f"folders of {supported_pipelines()}.")
    precise = _precision_family(path, family)
    loaded: dict[str, Any] = {}
    for sub, spec in index.items():
        if sub.startswith("_") or not is_component_entry(spec) or spec[0] is None:
            continue
        library, class_name = spec
        cls = _component_class(library, class_name, input_name)
        subdir = os.path.join(path, sub)
        if _is_module_class(cls):
            denoiser = class_name in family.model_classes  # every expert of a two-expert model too
            role = precision.role_of(sub, denoiser)
            own = overrides.get(role, "auto")
            dtype = (component_dtype(precise, role, own, COMPONENT_DTYPE_INPUTS.get(role, "dtype")) if own != "auto"
                     else component_dtype(precise, role, dtype_name))
            quantized = denoiser or sub == "text_encoder"
            config = storage.quantization_config(weights, library, dtype) if quantized else None
            extra = {"quantization_config": config} if config is not None else {}
            loaded[sub] = _from_pretrained(cls, subdir, f"{name}/{sub}", library, input_name, dtype=dtype,
                                           **extra).eval()
            if denoiser:
                storage.apply_after_load(loaded[sub], weights, dtype)
        else:  # schedulers, tokenizers, image processors
            loaded[sub] = _from_pretrained(cls, subdir, f"{name}/{sub}", library, input_name)
    return {
        "family": family,
        "task": task_for_pipeline(pipeline_class),
        "components": loaded,
        "pipeline_config": pipeline_config(index),
        "source": name,
    }


def is_component_entry(value: Any) -> bool:
    """model_index.json names a component as [library, class]; anything else is pipeline config."""
    return isinstance(value, list) and len(value) == 2 and all(v is None or isinstance(v, str) for v in value)


def pipeline_config(index: dict[str, Any]) -> dict[str, Any]:
    """The entries of a model_index.json that are no component (Wan2.2: boundary_ratio, expand_timesteps): the
    pipeline's own config, which must reach it as the folder's from_pretrained would pass it.

    `_class_name` stays too (no pipeline takes it as an argument): one set of weights can be saved as different
    pipelines (SkyReels-V2's diffusion-forcing folders hold the same DiT config as its text-to-video ones), and
    only the folder's pipeline class tells which loop the weights were trained for."""
    return {k: v for k, v in index.items()
            if (k == "_class_name" or not k.startswith("_")) and not is_component_entry(v)}


def family_of_choice(loader: str, name: str) -> Family | None:
    """The family a loader widget's current choice belongs to, read from the model's own files (for the
    editor's frame-count helper; None when it cannot tell)."""
    try:
        if loader == "DVCheckpointLoader":
            return family_for_class("StableDiffusionPipeline")
        if loader == "DVPipelineLoader":
            path = host.resolve_in_folder("diffusers", name)
            return _family_of_pipeline_folder(path) if path else None
        if loader == "DVModelLoader":
            if single_file.is_single_file(name, gguf=True):  # the family from its tensors; no config: no variant
                path = host.resolve_in_folder("diffusion_models", name)
                return single_file.detect(path, "model", "model")[0] if path else None
            path = host.resolve_in_folder("diffusers", name)
            family = _family_of_folder(path) if path else None
            config = os.path.join(path or "", "config.json")
            return family.resolved({"denoiser": read_json(config)}) if family and os.path.isfile(config) else family
    except (OSError, ValueError, DVInputError):
        return None
    return None


def _precision_family(folder: str, fallback: Family | None) -> Family | None:
    """The family and variant whose precision defaults apply to a component of `folder` (a pipeline folder):
    read from its configs, else `fallback`. A damaged config is left to the loading that reads it."""
    try:
        return _family_of_pipeline_folder(folder) or fallback
    except (OSError, ValueError):
        return fallback


def _family_of_pipeline_folder(path: str) -> Family | None:
    """A diffusers folder's family and variant from its config files alone (no weights read)."""
    index_path = os.path.join(path, "model_index.json")
    if not os.path.isfile(index_path):
        return None
    index = read_json(index_path)
    family = family_for_class(index.get("_class_name", ""))
    if family is None:
        return None
    denoisers = [sub for sub, spec in index.items()
                 if is_component_entry(spec) and spec[1] in family.model_classes]
    configs: dict[str, Any] = {"pipeline": pipeline_config(index), "denoisers": len(denoisers)}
    for key, sub in (("denoiser", denoisers[0] if denoisers else ""), ("vae", "vae")):
        config = os.path.join(path, sub, "config.json")
        if sub and os.path.isfile(config):
            configs[key] = read_json(config)
    return family.resolved(configs)


def list_checkpoints() -> list[str]:
    return [f for f in host.list_model_files("checkpoints") if single_file.is_single_file(f)]


def load_sd15_checkpoint(name: str, dtype_name: str, input_name: str = "ckpt_name",
                         config: str = "") -> dict[str, Any]:
    """A Stable Diffusion 1.5 single-file checkpoint (the original LDM layout) as the components of a folder,
    converted by diffusers' from_single_file; the config from a local SD1.5 folder or the Hub."""
    from diffusers import StableDiffusionPipeline
    from diffusers.loaders.single_file_utils import infer_diffusers_model_type

    path = _resolve("checkpoints", name, input_name)
    meta = single_file.read_meta(path, name, input_name)
    detected = infer_diffusers_model_type(meta)
    # diffusers' detection falls back to "v1" for anything it does not know: an LDM UNet must be there too.
    if detected != "v1" or "model.diffusion_model.input_blocks.0.0.weight" not in meta:
        raise DVInputError(input_name, f"'{name}' is not a Stable Diffusion 1.5 checkpoint (diffusers reads "
                           f"it as '{detected}', without an SD UNet).",
                           "an SD1.5 checkpoint (for AnimateDiff, ControlNet video, ...).")
    folder = None
    if config and config != single_file.CONFIG_FROM_HUB:
        folder = _resolve("diffusers", config, "config")
        index = os.path.join(folder, "model_index.json")
        class_name = read_json(index, "config").get("_class_name", "") if os.path.isfile(index) else ""
        if class_name != "StableDiffusionPipeline":
            raise DVInputError("config", f"'{config}' is a {class_name or 'folder without model_index.json'}, "
                               "not a Stable Diffusion 1.5 folder.",
                               f"an SD1.5 diffusers folder, or '{single_file.CONFIG_FROM_HUB}'.")
    family = family_for_class("StableDiffusionPipeline")
    dtype = component_dtype(family, precision.DENOISER, dtype_name)
    try:
        pipe = StableDiffusionPipeline.from_single_file(path, config=folder, dtype=dtype,
                                                        safety_checker=None, requires_safety_checker=False)
    except Exception as error:  # noqa: BLE001 - hub, config and shape errors all end here
        raise DVInputError("config" if folder else input_name, f"'{name}' could not be loaded "
                           f"({type(error).__name__}: {file_checks.plain(str(error))}).",
                           "an SD1.5 diffusers folder in 'config' (needed offline; e.g. stable-diffusion-v1-5), or "
                           "the network for the Hugging Face default.") from error
    components = {key: _in_role_dtype(value.eval(), family, precision.role_of(key, key == "unet"), dtype_name)
                  if _is_module_class(type(value)) else value
                  for key, value in pipe.components.items() if value is not None}
    return {"family": family, "task": "sd15", "components": components, "source": name}


def _in_role_dtype(module: Any, family: Family | None, role: str, dtype_name: str) -> Any:
    """A component loaded in another role's dtype (a checkpoint converts at one dtype), cast to its own."""
    dtype = component_dtype(family, role, dtype_name)
    return module if module.dtype == dtype else module.to(dtype=dtype)


# Components that belong with the text encoder (a second encoder and tokenizer, as HunyuanVideo has).
TEXT_SIDE = ("text_encoder", "tokenizer", "text_encoder_2", "tokenizer_2")


def _managed_or_plain(value: Any, label: str) -> Any:
    """nn.Modules go to the memory manager; tokenizers, feature extractors and configs stay as they are."""
    import torch

    return host.ManagedModule(value, label) if isinstance(value, torch.nn.Module) else value


def wrap_components(loaded: dict[str, Any]) -> dict[str, Any]:
    """DV objects for the loaded components of one folder, in a fixed order of roles.

    Everything besides the denoiser, VAE, scheduler and text side (image encoders, feature extractors,
    motion adapters...) rides along on the model as `companions`, because the sampler needs it.
    """
    comps = dict(loaded["components"])
    source = loaded["source"]
    config = dict(loaded.get("pipeline_config", {}))
    denoiser_keys = [key for key, value in comps.items()
                     if value is not None and type(value).__name__ in loaded["family"].model_classes]
    denoiser_key = denoiser_keys[0] if denoiser_keys else ("transformer" if "transformer" in comps else "unet")
    vae_module = comps.pop("vae")
    family: Family = loaded["family"].resolved({"pipeline": config, "denoiser": dict(comps[denoiser_key].config),
                                                "vae": dict(vae_module.config), "denoisers": len(denoiser_keys)})
    vae = DVVAE(host.ManagedModule(vae_module, f"{source}/vae"), loaded["family"].resolved(
        {"vae": dict(vae_module.config)}), source)
    scheduler = DVSchedulerSpec.from_scheduler(comps.pop("scheduler"), source)
    text_side = {key: comps.pop(key) for key in TEXT_SIDE if key in comps}
    text_encoder = None
    if text_side.get("text_encoder") is not None:
        text_encoder = DVTextEncoder(
            host.ManagedModule(text_side.pop("text_encoder"), f"{source}/text_encoder"),
            text_side.pop("tokenizer", None),
            family,
            source,
            {key: _managed_or_plain(value, f"{source}/{key}") for key, value in text_side.items()},
        )
    managed = host.ManagedModule(comps.pop(denoiser_key), f"{source}/{denoiser_key}")
    more = {key: host.ManagedModule(comps.pop(key), f"{source}/{key}") for key in denoiser_keys[1:]}
    model = DVModel(
        managed,
        family,
        geometry_from_config(vae_module.config, family),
        source,
        scheduler,
        {key: _managed_or_plain(value, f"{source}/{key}") for key, value in comps.items() if value is not None},
        more_denoisers=more,
        pipeline_config=config,
        role=denoiser_key,
    )
    return {"model": model, "vae": vae, "text_encoder": text_encoder, "scheduler": scheduler}


def _load_subfolder(name: str, role: str, input_name: str, dtype_name: str):
    """(module, class name, path) of one subfolder, in the dtype its family's guide gives its role under
    "auto" (memory/precision.py)."""
    path = _resolve("diffusers", name, input_name)
    config_path = os.path.join(path, "config.json")
    if not os.path.isfile(config_path):
        raise DVInputError(input_name, f"'{name}' has no config.json.",
                           "a component subfolder of a diffusers folder, e.g. CogVideoX-2b/transformer.")
    config = read_json(config_path, input_name)
    class_name = config.get("_class_name") or config.get("architectures", ["?"])[0]
    if class_name not in _all_classes(role):
        raise DVInputError(input_name, f"'{name}' holds a {class_name}, which is not a {role.replace('_', ' ')} "
                           "of a supported family.", ", ".join(sorted(_all_classes(role))) + ".")
    library = "transformers" if role == "text_encoder" else "diffusers"
    cls = _component_class(library, class_name, input_name)
    family = _precision_family(os.path.dirname(path), family_for_class(class_name))
    dtype = component_dtype(family, _role(role), dtype_name)
    module = _from_pretrained(cls, path, name.rstrip("/"), library, input_name, dtype=dtype)
    return module.eval(), class_name, path


def _family_of_folder(path: str) -> Family | None:
    index = os.path.join(os.path.dirname(path), "model_index.json")
    if os.path.isfile(index):
        return family_for_class(read_json(index).get("_class_name", ""))
    return None


def _pipeline_folder_extras(folder: str, family: Family, source: str):
    """(latent geometry, scheduler recipe) from a pipeline folder's vae/ and scheduler/ configs, where present;
    without them the released models' geometry and the family's default scheduler apply."""
    geometry = family.geometry
    vae_config = os.path.join(folder, "vae", "config.json")
    if os.path.isfile(vae_config):
        geometry = geometry_from_config(read_json(vae_config), family)
    scheduler = None
    scheduler_json = os.path.join(folder, "scheduler", "scheduler_config.json")
    if os.path.isfile(scheduler_json):
        config = read_json(scheduler_json)
        class_name = config.pop("_class_name", None)
        config = {k: v for k, v in config.items() if not k.startswith("_")}
        if class_name:
            scheduler = DVSchedulerSpec.from_config_dict(class_name, config, source)
    return geometry, scheduler


def list_models() -> list[str]:
    """DiT/UNet subfolders of diffusers folders, then single files in diffusion_models."""
    files = [f for f in host.list_model_files("diffusion_models") if single_file.is_single_file(f, gguf=True)]
    return list_component_folders(None, "model") + sorted(files)


def list_vaes() -> list[str]:
    files = [f for f in host.list_model_files("vae") if single_file.is_single_file(f)]
    return list_component_folders(None, "vae") + sorted(files)


def config_choices() -> list[str]:
    return [single_file.CONFIG_FROM_HUB, *list_pipeline_folders()]


def _single_file(name: str, kind: str, role: str, config: str, dtype_name: str, input_name: str,
                 subfolder: str | None = None):
    """(module, family, config folder or None) of a single file, checked against the config folder's family."""
    path = _resolve(kind, name, input_name)
    folder = None
    readers = single_file.readers(path, role, input_name)
    detected, class_name = readers[0]
    if config and config != single_file.CONFIG_FROM_HUB:
        folder = _resolve("diffusers", config, "config")
        index = os.path.join(folder, "model_index.json")
        folder_class = read_json(index, "config").get("_class_name", "") if os.path.isfile(index) else ""
        folder_family = family_for_class(folder_class) if folder_class else None
        # The folder's denoiser class picks among the families that read the file's layout (Wan or SkyReels-V2)
        # and must be the class the file is (a VACE file needs a VACE folder).
        denoiser = single_file.folder_class(folder, single_file.config_subfolder(folder, role, subfolder))
        detected, class_name = next((hit for hit in readers if hit[1] == denoiser), readers[0])
        what = f"{folder_family.label} folder" if folder_family else "folder of no supported family"
        kinds = " or ".join(dict.fromkeys(f"{fam.label} ({cls})" for fam, cls in readers))
        if folder_family is None or folder_family.id != detected.id:
            raise DVInputError("config", f"'{config}' is a {what}, but '{name}' is a {detected.label} file.",
                               f"a diffusers folder of {kinds}, or '{single_file.CONFIG_FROM_HUB}'.")
        if role == "model" and denoiser and denoiser != class_name:
            raise DVInputError("config", f"'{config}' is a {what} whose denoiser is {denoiser}, but '{name}' is a "
                               f"{class_name} file.", f"a diffusers folder of {kinds}.")
    elif detected.single_file_hub_refusal is not None:
        # diffusers' detection maps some releases onto another release's Hub config (Wan2.2 onto Wan2.1).
        reason = detected.single_file_hub_refusal(single_file.meta_state_dict(path), subfolder is not None)
        if reason:
            raise DVInputError("config", f"'{name}': {reason}",
                               f"a local diffusers folder of the same {detected.label} release in 'config'.")
    dtype = component_dtype(detected, _role(role), dtype_name)
    module, family = single_file.load(path, role, folder, dtype, input_name, subfolder)
    return module, family, folder


NO_SECOND_EXPERT = "none"


def load_model(name: str, dtype_name: str, input_name: str = "model", config: str = "", weights: str = "as dtype",
               model_2: str = NO_SECOND_EXPERT, boundary_ratio: float = 0.0) -> DVModel:
    """The DiT/UNet alone, from a folder's subfolder or a single file; with `model_2` a second expert (Wan2.2
    A14B's low-noise transformer_2) and the boundary where it takes over, from `boundary_ratio` or the
    config folder's model_index.json."""
    storage.check(weights)
    if weights.startswith("nf4"):
        raise DVInputError("weights", "4-bit loading goes through a diffusers folder.",
                           "DVPipelineLoader with weights nf4, or fp8 storage here.")
    second = model_2 not in ("", NO_SECOND_EXPERT)
    if single_file.is_gguf(name) and weights != "as dtype":
        raise DVInputError("weights", f"'{name}' is a GGUF file, stored quantized already; '{weights}' would "
                           "store it again.", "'as dtype' (the GGUF quantization stays; dtype is its compute dtype).")
    if second and single_file.is_single_file(name, True) != single_file.is_single_file(model_2, True):
        raise DVInputError("model_2", "one expert is a single file and the other a folder.",
                           "both experts as single files in diffusion_models, or both as diffusers subfolders.")
    if single_file.is_single_file(name, gguf=True):
        module, family, folder = _single_file(name, "diffusion_models", "model", config, dtype_name, input_name,
                                              "transformer" if second else None)
        module_2 = (_single_file(model_2, "diffusion_models", "model", config, dtype_name, "model_2",
                                 "transformer_2")[0] if second else None)
        geometry, scheduler = (_pipeline_folder_extras(folder, family, config) if folder
                               else (family.geometry, None))
        index_path = os.path.join(folder, "model_index.json") if folder else ""
    else:
        module, class_name, path = _load_subfolder(name, "model", input_name, dtype_name)
        module_2 = _load_subfolder(model_2, "model", "model_2", dtype_name)[0] if second else None
        family = _family_of_folder(path) or family_for_class(class_name)
        geometry, scheduler = _pipeline_folder_extras(os.path.dirname(path), family, name)
        index_path = os.path.join(os.path.dirname(path), "model_index.json")
    config_entries = pipeline_config(read_json(index_path)) if os.path.isfile(index_path) else {}
    if boundary_ratio > 0:
        config_entries["boundary_ratio"] = float(boundary_ratio)
    more: dict[str, host.ManagedModule] = {}
    if second:
        if type(module_2) is not type(module) or dict(module_2.config) != dict(module.config):
            raise DVInputError("model_2", f"'{model_2}' is not a second expert of '{name}': its config differs "
                               f"({type(module_2).__name__}).", "the other expert of the same model.")
        if config_entries.get("boundary_ratio") is None:
            raise DVInputError("boundary_ratio", "two experts need the timestep at which the second takes over, "
                               "and neither this input nor the config folder gives one.",
                               "the model's boundary_ratio (Wan2.2 A14B: 0.875 text-to-video, 0.9 "
                               "image-to-video), or a config folder whose model_index.json has it.")
        more["transformer_2"] = host.ManagedModule(module_2, model_2)
    elif boundary_ratio > 0:
        raise DVInputError("boundary_ratio", f"{boundary_ratio} is set, but only one expert is loaded.",
                           "0 (from the config), or a second expert in 'model_2'.")
    for loaded in (module, module_2):
        if loaded is not None:
            storage.apply_after_load(loaded, weights, loaded.dtype)  # the compute dtype it was loaded in
    family = family.resolved({"pipeline": config_entries, "denoiser": dict(module.config),
                              "denoisers": 1 + len(more)})
    return DVModel(host.ManagedModule(module, name), family, geometry, name, scheduler, more_denoisers=more,
                   pipeline_config=config_entries)


def load_vae(name: str, dtype_name: str, input_name: str = "vae",
             config: str = "") -> DVVAE:
    if single_file.is_single_file(name):
        module, family, _ = _single_file(name, "vae", "vae", config, dtype_name, input_name)
    else:
        module, class_name, path = _load_subfolder(name, "vae", input_name, dtype_name)
        # The folder's pipeline tells the family; the class alone may be shared (AutoencoderKL).
        family = _family_of_folder(path) or family_for_class(class_name)
    return DVVAE(host.ManagedModule(module, name), family.resolved({"vae": dict(module.config)}), name)


def list_text_encoders() -> list[str]:
    """Text encoder subfolders of diffusers folders, then GGUF text encoders in text_encoders/."""
    files = [f for f in host.list_model_files("text_encoders") if single_file.is_gguf(f)]
    return list_component_folders(None, "text_encoder") + sorted(files)


def load_text_encoder(name: str, dtype_name: str, input_name: str = "text_encoder", config: str = "") -> DVTextEncoder:
    """A folder's text encoder and tokenizer; a .gguf from text_encoders/ with the tokenizer of `config`."""
    if single_file.is_gguf(name):
        return _gguf_text_encoder(name, dtype_name, input_name, config)
    path = _resolve("diffusers", name, input_name)
    family = _family_of_folder(path)
    if family is None:
        raise DVInputError(input_name, f"'{name}' is not inside a diffusers folder of a supported family, "
                           "so the tokenizer and family cannot be found.",
                           "a text_encoder subfolder of a diffusers folder, e.g. CogVideoX-2b/text_encoder.")
    module, _class_name, _ = _load_subfolder(name, "text_encoder", input_name, dtype_name)
    sub = os.path.basename(path.rstrip(os.sep))
    tok_dir = os.path.join(os.path.dirname(path), sub.replace("text_encoder", "tokenizer"))
    index = read_json(os.path.join(os.path.dirname(path), "model_index.json"))
    tok_spec = index.get(os.path.basename(tok_dir))
    tokenizer = None
    if tok_spec and os.path.isdir(tok_dir):
        tokenizer = _from_pretrained(_component_class(tok_spec[0], tok_spec[1], input_name), tok_dir,
                                     f"{os.path.dirname(name.rstrip('/'))}/{os.path.basename(tok_dir)}",
                                     tok_spec[0], input_name)
    extras = _second_text_encoder(os.path.dirname(path), index, name, sub, dtype_name, input_name,
                                  _precision_family(os.path.dirname(path), family))
    return DVTextEncoder(host.ManagedModule(module, name), tokenizer, family, name, extras)


def _gguf_text_encoder(name: str, dtype_name: str, input_name: str, config: str) -> DVTextEncoder:
    """A GGUF text encoder (T5/UMT5 as city96 converts them) from models/text_encoders, with the tokenizer and
    family of the diffusers folder in `config`. transformers dequantizes GGUF weights while loading, so this
    saves disk and download, not memory: the encoder runs at `dtype` like the folder's own."""
    gguf_files.need_gguf(input_name)
    path = _resolve("text_encoders", name, input_name)
    folders = ", ".join(list_pipeline_folders()) or "none installed"
    if not config or config == single_file.CONFIG_FROM_HUB:
        raise DVInputError("config", f"'{name}' is a GGUF text encoder, which brings no tokenizer.",
                           f"the diffusers folder of the model it belongs to (its tokenizer is used): {folders}.")
    folder = _resolve("diffusers", config, "config")
    index_path = os.path.join(folder, "model_index.json")
    index = read_json(index_path, "config") if os.path.isfile(index_path) else {}
    family = family_for_class(index.get("_class_name", ""))
    spec, tok_spec = index.get("text_encoder"), index.get("tokenizer")
    if family is None or not (isinstance(spec, list) and spec[0] and isinstance(tok_spec, list) and tok_spec[0]):
        raise DVInputError("config", f"'{config}' is not a diffusers folder of a supported family with a text "
                           "encoder and tokenizer.", f"one of: {folders}.")
    cls = _component_class(spec[0], spec[1], "config")
    dtype = component_dtype(family, precision.role_of("text_encoder", False), dtype_name)
    # Checked on the metadata first: transformers builds a class from its default config when the file is of
    # another architecture (a 7B LlamaModel for a T5 file), before it reports the mismatch.
    found, expected = gguf_files.transformers_model_type(path), getattr(cls.config_class, "model_type", None)
    if found != expected:
        raise DVInputError(input_name, f"'{name}' is a GGUF {found or 'of an unknown model'} (architecture "
                           f"'{gguf_files.architecture(path)}'), but the text encoder of '{config}' is {spec[1]} "
                           f"({expected}).",
                           f"a GGUF of {spec[1]}, or the config folder of the model this encoder belongs to "
                           "(T5/UMT5 GGUFs go with Wan, LTX-Video, Mochi and CogVideoX folders).")
    try:
        module = cls.from_pretrained(os.path.dirname(path), gguf_file=os.path.basename(path), dtype=dtype).eval()
    except Exception as error:  # noqa: BLE001 - transformers' GGUF reader raises many types for a foreign file
        raise DVInputError(input_name, f"'{name}' (GGUF architecture '{gguf_files.architecture(path)}') could not "
                           f"be loaded as {spec[1]}, the text encoder of '{config}' ({type(error).__name__}: "
                           f"{file_checks.plain(str(error))}).",
                           f"a GGUF of {spec[1]} that transformers can read (T5/UMT5 encoders), or the "
                           f"folder's own text_encoder.") from error
    tokenizer = _from_pretrained(_component_class(tok_spec[0], tok_spec[1], "config"),
                                 os.path.join(folder, "tokenizer"), f"{config}/tokenizer", tok_spec[0], "config")
    # A second encoder beside the first (HunyuanVideo's CLIP) comes from the folder, as the family needs both.
    extras = _second_text_encoder(folder, index, f"{config}/text_encoder", "text_encoder", dtype_name, "config",
                                  family)
    return DVTextEncoder(host.ManagedModule(module, name), tokenizer, family, name, extras)


def _second_text_encoder(folder: str, index: dict[str, Any], name: str, sub: str, dtype_name: str,
                         input_name: str, family: Family | None = None) -> dict[str, Any]:
    """text_encoder_2 / tokenizer_2 beside a folder's first text encoder (HunyuanVideo's CLIP), which the
    family's prompt encoding needs together with it; nothing for other folders."""
    if sub != "text_encoder":
        return {}
    extras: dict[str, Any] = {}
    for key in TEXT_SIDE[2:]:
        spec, subdir = index.get(key), os.path.join(folder, key)
        if not (isinstance(spec, list) and len(spec) == 2 and spec[0] and os.path.isdir(subdir)):
            continue
        cls = _component_class(spec[0], spec[1], input_name)
        shown = f"{os.path.dirname(name.rstrip('/'))}/{key}"
        dtype = component_dtype(family, precision.role_of(key, False), dtype_name)
        value = (_from_pretrained(cls, subdir, shown, spec[0], input_name, dtype=dtype).eval()
                 if _is_module_class(cls) else _from_pretrained(cls, subdir, shown, spec[0], input_name))
        extras[key] = _managed_or_plain(value, f"{os.path.dirname(name.rstrip('/'))}/{key}")
    return extras


# ----------------------------------------------------------------------------------- ControlNets


def list_controlnets() -> list[str]:
    """SD1.5 ControlNets in ComfyUI's controlnet folder: diffusers folders (config.json) and single files."""
    folders = host.list_diffusers_folders("controlnet", "config.json")
    files = [f for f in host.list_model_files("controlnet") if single_file.is_single_file(f)]
    return sorted(set(folders) | set(files))


def load_controlnet(name: str, dtype_name: str, input_name: str = "controlnet"):
    import diffusers
    from diffusers import ControlNetModel

    path = _resolve("controlnet", name, input_name)
    # ControlNets run beside the UNet of a family that takes them (SD1.5): that family's guide dtype.
    dtype = component_dtype(next((f for f in all_families() if f.takes_control), None), "controlnet", dtype_name)
    if os.path.isdir(path):
        class_name = read_json(os.path.join(path, "config.json"), input_name).get("_class_name")
        # SparseControlNetModel: AnimateDiff's SparseCtrl, conditioning chosen frames only.
        if class_name not in ("ControlNetModel", "SparseControlNetModel"):
            raise DVInputError(input_name, f"'{name}' holds a {class_name}, not an SD1.5 ControlNetModel.",
                               "a ControlNet folder such as lllyasviel/sd-controlnet-openpose, or a SparseCtrl "
                               "folder (animatediff-sparsectrl-scribble).")
        return _from_pretrained(getattr(diffusers, class_name), path, name.rstrip("/"), "diffusers", input_name,
                                dtype=dtype).eval()
    try:  # diffusers converts the original ControlNet checkpoints (config from the Hub or its cache)
        return ControlNetModel.from_single_file(path, dtype=dtype).eval()
    except Exception as error:  # noqa: BLE001 - diffusers raises many types here; the user needs one message
        raise DVInputError(input_name, f"'{name}' could not be read as a ControlNet "
                           f"({type(error).__name__}: {file_checks.plain(str(error))}).",
                           "a diffusers ControlNet folder (works offline), or an original SD1.5 ControlNet "
                           ".safetensors (its config comes from the Hugging Face Hub or cache).") from error


# ----------------------------------------------------------------------------------- LoRAs


def list_loras() -> list[str]:
    return [f for f in host.list_model_files("loras") if f.lower().endswith((".safetensors", ".sft"))]


def resolve_lora(name: str, input_name: str) -> str:
    if not name.lower().endswith((".safetensors", ".sft")):
        raise DVInputError(input_name, f"'{name}' is not a .safetensors file.",
                           "a LoRA .safetensors (pickled .pt/.ckpt files are not loaded).")
    return _resolve("loras", name, input_name)


# ----------------------------------------------------------------------------------- motion adapters


def list_motion_adapters() -> list[str]:
    """Motion adapters in animatediff_models: diffusers folders (config.json) and single weight files."""
    folders = host.list_diffusers_folders("animatediff_models", "config.json")
    files = [f for f in host.list_model_files("animatediff_models") if f.endswith((".safetensors", ".sft"))]
    return sorted(set(folders) | set(files))


def load_motion_adapter(name: str, dtype_name: str, input_name: str = "motion_adapter"):
    from diffusers import MotionAdapter

    path = _resolve("animatediff_models", name, input_name)
    dtype = component_dtype(family_for_class("UNetMotionModel"), "motion_adapter", dtype_name)
    if os.path.isdir(path):
        class_name = read_json(os.path.join(path, "config.json"), input_name).get("_class_name")
        if class_name != "MotionAdapter":
            raise DVInputError(input_name, f"'{name}' holds a {class_name}, not a MotionAdapter.",
                               "a motion adapter folder, e.g. animatediff-motion-adapter-v1-5-2.")
        return _from_pretrained(MotionAdapter, path, name.rstrip("/"), "diffusers", input_name, dtype=dtype).eval()
    try:  # diffusers converts the original AnimateDiff checkpoints itself
        return MotionAdapter.from_single_file(path, dtype=dtype).eval()
    except Exception as error:  # noqa: BLE001 - diffusers raises many types here; the user needs one message
        raise DVInputError(input_name, f"'{name}' could not be read as a motion adapter "
                           f"({file_checks.plain(str(error))}).",
                           "a diffusers MotionAdapter folder, or an original AnimateDiff .safetensors "
                           "(needs the adapter's config, which diffusers may fetch from the Hub).") from error
