"""The seam between this pack and ComfyUI: the only module that imports comfy.*, folder_paths, server or
latent_preview.

Inside ComfyUI every function here uses the host's own machinery (memory manager, progress bar with
interrupt, latent previews, model folders). Outside it (tests, the headless runner, library use) the same
calls behave the same way with plain torch, tqdm and folders from the environment, so the model layer and
the nodes never need to know where they run.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

log = logging.getLogger("DiffusersVideo")

try:  # ComfyUI puts its root on sys.path before importing custom nodes.
    import comfy.model_management as _mm
    import comfy.utils as _comfy_utils
    import folder_paths as _folder_paths

    IN_COMFY = True
except ImportError:
    _mm = _comfy_utils = _folder_paths = None
    IN_COMFY = False

# ComfyUI's own folder names, plus ours for motion adapters.
MODEL_FOLDERS = (
    "diffusers",
    "checkpoints",
    "diffusion_models",
    "vae",
    "text_encoders",
    "controlnet",
    "loras",
    "clip_vision",
    "animatediff_models",
)
WEIGHT_EXTENSIONS = (".safetensors", ".sft", ".pt", ".pth", ".bin", ".ckpt", ".gguf")


class Interrupted(RuntimeError):
    """Raised outside ComfyUI when an interrupt was requested (inside, ComfyUI's own exception is used)."""


# --------------------------------------------------------------------------------------------- devices


def torch_device():
    import torch

    if IN_COMFY:
        return _mm.get_torch_device()
    if os.environ.get("DV_DEVICE"):
        return torch.device(os.environ["DV_DEVICE"])
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def offload_device():
    import torch

    if IN_COMFY:
        return _mm.unet_offload_device()
    return torch.device("cpu")


def intermediate_device():
    """Where IMAGE tensors live between nodes (ComfyUI's choice inside the host, CPU outside)."""
    import torch

    if IN_COMFY:
        return _mm.intermediate_device()
    return torch.device("cpu")


def default_dtype(device=None):
    """fp32 on CPU; bf16 where the GPU supports it, else fp16."""
    import torch

    device = device or torch_device()
    if device.type == "cpu":
        return torch.float32
    if IN_COMFY:
        return torch.bfloat16 if _mm.should_use_bf16(device) else torch.float16
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float16


# ------------------------------------------------------------------------------------- memory manager


_HOLDERS: dict[type, type] = {}


def _holder_class(inner_type: type) -> type:
    """A holder class named after what it holds, so ComfyUI's log says "Requested to load
    DVCogVideoXTransformer3DModel" rather than a wrapper's name."""
    import torch

    if inner_type not in _HOLDERS:

        def __init__(self, inner) -> None:
            torch.nn.Module.__init__(self)
            self.inner = inner
            self.device = None

        _HOLDERS[inner_type] = type(f"DV{inner_type.__name__}", (torch.nn.Module,), {"__init__": __init__})
    return _HOLDERS[inner_type]


class ManagedModule:
    """A diffusers/transformers module registered with the host's memory manager.

    ComfyUI's ModelPatcher assigns `model.device`, which is a read-only property on diffusers and
    transformers models, so the module is held in a thin nn.Module with a plain `device` attribute and
    that holder is what the ModelPatcher manages. Then /free, OOM recovery and model swapping reach it.

    Always a plain `comfy.model_patcher.ModelPatcher`, also on ComfyUI 0.33 with dynamic VRAM (comfy-aimdo),
    where core models get `ModelPatcherDynamic` (`CoreModelPatcher`): that patcher streams the weights of
    comfy.ops layers on demand, and a diffusers module has no such layers, so core itself keeps the plain
    patcher for models that opt out (sd.py's `disable_dynamic`). A plain patcher there is loaded whole, sized by
    its state dict and evicted by the same free_memory as before; what dynamic VRAM would add, streaming
    weights while computing, the pack gets from diffusers' group offloading (memory/plan.py picks it).

    4-bit (bitsandbytes) modules cannot be moved by `.to()`: they are registered with the GPU as their offload
    device too, so an unload never tries (they stay resident, and the manager counts them).
    """

    def __init__(self, module, label: str) -> None:
        import torch

        self.label = label
        self.module = module
        self.patcher = None
        # Set while diffusers' group offloading drives the module: it computes there while its weights rest
        # on the offload device, and the memory manager must not load it whole.
        self.offloaded_to = None
        # Working memory of the run in progress (memory/estimate.py), passed to the manager as memory_required.
        self.working_bytes = 0
        self.movable = not (getattr(module, "is_loaded_in_4bit", False) or getattr(module, "is_loaded_in_8bit", False))
        if IN_COMFY:
            import comfy.model_patcher

            holder = _holder_class(type(module))(module)
            holder.device = next(iter(module.parameters()), torch.empty(0)).device
            rest = offload_device() if self.movable else torch_device()
            self.patcher = comfy.model_patcher.ModelPatcher(holder, load_device=torch_device(), offload_device=rest)

    @property
    def device(self):
        """Where the module computes (inputs go there)."""
        import torch

        if self.offloaded_to is not None:
            return self.offloaded_to
        return next(iter(self.module.parameters()), torch.empty(0)).device

    @property
    def dtype(self):
        import torch

        # GGUF-quantized layers hold uint8 blocks: the compute dtype is that of the floating weights.
        return next((p.dtype for p in self.module.parameters() if p.is_floating_point()), torch.float32)

    def size_changed(self) -> None:
        """The module gained or lost weights (LoRA adapters injected or deleted): the manager sizes it again.
        ComfyUI's ModelPatcher measures its model once and caches the figure (`size`, 0 = measure again)."""
        if self.patcher is not None:
            self.patcher.size = 0

    def __repr__(self) -> str:
        return f"ManagedModule({self.label})"


def load_to_device(managed: Iterable[ManagedModule]) -> None:
    """Bring modules to the compute device before use (ComfyUI: through load_models_gpu), with the working
    memory their runs declared reserved beside them, so the manager evicts what must go (text encoders before a
    DiT runs, the DiT before a VAE decode) instead of leaving an OOM for the step."""
    # Group-offloaded modules move their own blocks; loading them whole would defeat the point.
    managed = [m for m in managed if m is not None and m.offloaded_to is None]
    if IN_COMFY:
        # force_full_load: a diffusers module has no comfy.ops layers, so a partial ("lowvram") load would leave
        # some weights off the GPU with nothing to move them in; the plan (memory/plan.py) decides offloading.
        _mm.load_models_gpu([m.patcher for m in managed], memory_required=sum(m.working_bytes for m in managed),
                            force_full_load=True)
        return
    device = torch_device()
    for m in managed:
        if m.device != device:
            m.module.to(device)


@contextlib.contextmanager
def working_memory(managed: Iterable[ManagedModule], nbytes: int) -> Iterator[None]:
    """Declare a run's working memory on its modules for the duration: load_to_device passes it on."""
    managed = [m for m in managed if m is not None]
    for m in managed:
        m.working_bytes = int(nbytes)
    try:
        yield
    finally:
        for m in managed:
            m.working_bytes = 0


def unload(managed: ManagedModule) -> None:
    """Move a module off the compute device now (diffusers' model CPU offload, after its run).

    Under --highvram/--gpu-only ComfyUI's offload device is the GPU itself; an offload the user asked for then
    goes to the CPU, or it would silently do nothing."""
    import torch

    if not managed.movable:
        return
    if IN_COMFY:
        for loaded in list(_mm.current_loaded_models):
            if loaded.model is managed.patcher:
                loaded.model_unload()
                _mm.current_loaded_models.remove(loaded)
        if managed.offloaded_to is None and managed.device == torch_device():  # still there: --gpu-only
            managed.module.to(torch.device("cpu"))
        return
    managed.module.to(offload_device())


def offload_target():
    """Where offloaded weights rest: the host's offload device, or the CPU where that is the GPU (--gpu-only)."""
    import torch

    device = offload_device()
    return device if device.type == "cpu" else torch.device("cpu")


def vram_state() -> str:
    """ComfyUI's VRAM state in short: "disabled" (CPU), "no", "low", "normal", "high", "shared" (Apple).
    Outside ComfyUI: "normal" on a GPU, "disabled" on the CPU."""
    if IN_COMFY:
        return _mm.vram_state.name.lower().replace("_vram", "")
    return "disabled" if torch_device().type == "cpu" else "normal"


def gpu_budget(keep: Iterable[ManagedModule] = ()) -> int:
    """Bytes the memory manager can give a run on the compute device: free memory plus what the models loaded
    now (except `keep`) occupy, which it would evict, less its reserve (--reserve-vram)."""
    device = torch_device()
    if IN_COMFY:
        kept = {id(m.patcher) for m in keep}
        evictable = sum(lm.model_loaded_memory() for lm in _mm.current_loaded_models
                        if lm.device == device and id(lm.model) not in kept)
        return int(_mm.get_free_memory(device) + evictable - _mm.extra_reserved_memory())
    return free_memory_bytes(device)


def loaded_patchers() -> list:
    """The pack's modules that ComfyUI's memory manager currently holds loaded (for /dv/models and tests)."""
    if not IN_COMFY:
        return []
    return [lm.model for lm in _mm.current_loaded_models if _is_ours(lm.model)]


def _is_ours(patcher) -> bool:
    inner = getattr(getattr(patcher, "model", None), "inner", None)
    return inner is not None and type(inner).__module__.split(".")[0] in ("diffusers", "transformers")


def soft_empty_cache() -> None:
    if IN_COMFY:
        _mm.soft_empty_cache()
        return
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def is_out_of_memory(error: BaseException) -> bool:
    """An allocation failure on the GPU (ComfyUI's own test inside the host) or on the CPU."""
    import torch

    if IN_COMFY and isinstance(error, _mm.OOM_EXCEPTION):
        return True
    if isinstance(error, torch.OutOfMemoryError):
        return True
    text = str(error).lower()
    return isinstance(error, RuntimeError) and ("out of memory" in text or "can't allocate memory" in text)


def free_memory_bytes(device=None) -> int:
    """Memory free for tensors on the device (ComfyUI's estimate inside the host)."""
    device = device or torch_device()
    if IN_COMFY:
        return int(_mm.get_free_memory(device))
    import torch

    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))


# ------------------------------------------------------------------------------------------- progress

_interrupt_requested = threading.Event()


def request_interrupt() -> None:
    """Outside ComfyUI: ask the running sampler to stop at its next step (inside, use ComfyUI's button)."""
    _interrupt_requested.set()


def interrupt_pending() -> bool:
    """Whether a stop was asked for, without acting on it (a parallel run first tells every rank)."""
    if IN_COMFY:
        return bool(_mm.processing_interrupted())
    return _interrupt_requested.is_set()


def check_interrupt() -> None:
    if IN_COMFY:
        _mm.throw_exception_if_processing_interrupted()
        return
    if _interrupt_requested.is_set():
        _interrupt_requested.clear()
        raise Interrupted("Interrupted by request.")


class Progress:
    """Per-step progress; every update is also where an interrupt takes effect."""

    def __init__(self, total: int, desc: str = "") -> None:
        self.total = max(int(total), 1)
        self.current = 0
        self._bar = None
        self._tqdm = None
        if IN_COMFY:
            self._bar = _comfy_utils.ProgressBar(self.total)
        elif os.environ.get("DV_PROGRESS", "1") != "0":
            from tqdm.auto import tqdm

            self._tqdm = tqdm(total=self.total, desc=desc or None, leave=False)

    def update(self, n: int = 1, preview: Any = None) -> None:
        self.current = min(self.current + n, self.total)
        if self._bar is not None:
            self._bar.update_absolute(self.current, self.total, preview)
        if self._tqdm is not None:
            self._tqdm.update(n)
        check_interrupt()

    def finish(self) -> None:
        """The work is done: the bar shows 100% whatever the count of callbacks was."""
        if self.current < self.total:
            self.update(self.total - self.current)

    def close(self) -> None:
        if self._tqdm is not None:
            self._tqdm.close()


def latent_previewer(latent_format_name: str | None) -> Callable[[Any], Any] | None:
    """A function turning a [B, C, F, H, W] latent into a preview for the progress bar, or None.

    Only inside ComfyUI and only for families ComfyUI has a latent format for: the previews come from its
    Latent2RGB/TAESD previewers and the user's --preview-method setting. A preview never costs a render:
    a latent whose channels do not fit the format, or any error of the previewer, is logged once and the
    run goes on without previews.
    """
    if not IN_COMFY or not latent_format_name:
        return None
    import comfy.latent_formats
    import latent_preview

    # "A|B": the newer release's format first, an older release's that reads the same latents after it.
    names = latent_format_name.split("|")
    fmt_cls = next((getattr(comfy.latent_formats, n) for n in names if hasattr(comfy.latent_formats, n)), None)
    if fmt_cls is None:
        return None
    latent_format_name = fmt_cls.__name__
    fmt = fmt_cls()
    previewer = latent_preview.get_previewer(torch_device(), fmt)
    if previewer is None:
        return None
    return safe_previewer(lambda x0: previewer.decode_latent_to_preview_image("JPEG", x0),
                          getattr(fmt, "latent_channels", None), latent_format_name)


def safe_previewer(make_preview: Callable[[Any], Any], channels: int | None, name: str) -> Callable[[Any], Any]:
    """`make_preview` guarded: a [B, C, (F,) H, W] latent with other than `channels` channels, or one that
    raises, turns previews off for the rest of the run with one warning (the sampling itself goes on)."""
    off: list[str] = []

    def preview(x0):
        if off:
            return None
        shape = tuple(getattr(x0, "shape", ()))
        if len(shape) < 4 or (channels is not None and shape[1] != channels):
            off.append("shape")
            log.warning("DiffusersVideo: no previews for this run: the latent %s does not fit ComfyUI's %s "
                        "format (%s channels).", shape, name, channels)
            return None
        try:
            return make_preview(x0)
        except Exception as error:  # noqa: BLE001 - a preview must never end a render, whatever it raised
            off.append("error")
            log.warning("DiffusersVideo: no previews for this run: the %s previewer failed (%s: %s).", name,
                        type(error).__name__, error)
            return None

    return preview


# ------------------------------------------------------------------------------------------ core VIDEO


class StandaloneVideo:
    """Outside ComfyUI: what a core VIDEO offers the pack (get_components()), so nodes run the same way."""

    def __init__(self, images, frame_rate, audio=None) -> None:
        from types import SimpleNamespace

        self._components = SimpleNamespace(images=images, frame_rate=frame_rate, audio=audio, metadata=None)

    def get_components(self):
        return self._components


def make_video(images, fps: float, audio: dict | None = None):
    """A core VIDEO (ComfyUI's VideoFromComponents, the type core's SaveVideo and GetVideoComponents take) of
    IMAGE frames, their rate and sound; outside ComfyUI a stand-in with the same get_components()."""
    from fractions import Fraction

    rate = Fraction(fps).limit_denominator(1001)
    if IN_COMFY:
        try:
            from comfy_api.input_impl import VideoFromComponents
            from comfy_api.util import VideoComponents
        except ImportError:  # a ComfyUI without core VIDEO (before 0.3.30): the stand-in still carries the parts
            return StandaloneVideo(images, rate, audio)
        return VideoFromComponents(VideoComponents(images=images, frame_rate=rate, audio=audio))
    return StandaloneVideo(images, rate, audio)


def video_parts(video) -> tuple[Any, float, dict | None]:
    """(IMAGE frames, frames per second, AUDIO or None) of a core VIDEO (a file one reads its frames here)."""
    components = video.get_components()
    return components.images, float(components.frame_rate), getattr(components, "audio", None)


# ------------------------------------------------------------------------------------------ folders


def _standalone_models_dir() -> str:
    return os.path.abspath(os.environ.get("DV_MODELS_DIR", "models"))


if IN_COMFY:
    # Our motion-adapter folder, and the latent upscaler folder ComfyUI has only since 0.33 (so LTX upscalers sit
    # in the same place on older releases), added without clobbering an extra_model_paths.yaml entry of the name.
    for _kind in ("animatediff_models", "latent_upscale_models"):
        _default = os.path.join(_folder_paths.models_dir, _kind)
        if _kind in _folder_paths.folder_names_and_paths:
            _folder_paths.add_model_folder_path(_kind, _default)
        else:
            _folder_paths.folder_names_and_paths[_kind] = ([_default], set(_folder_paths.supported_pt_extensions))


def folder_paths_for(kind: str) -> list[str]:
    if IN_COMFY:
        try:
            return _folder_paths.get_folder_paths(kind)
        except KeyError:
            return []
    given = os.environ.get("DV_FOLDER_PATHS")  # a server's folders, handed to its parallel workers
    if given:
        return list(json.loads(given).get(kind, []))
    return [os.path.join(_standalone_models_dir(), kind)]


def all_folder_paths() -> dict[str, list[str]]:
    """Every model folder kind the pack reads, with its paths, for processes that must see the same ones."""
    return {kind: folder_paths_for(kind) for kind in MODEL_FOLDERS}


def list_model_files(kind: str) -> list[str]:
    """Weight files of one model folder, as names relative to it (what ComfyUI shows in a combo)."""
    if IN_COMFY:
        try:
            names = list(_folder_paths.get_filename_list(kind))
        except KeyError:
            return []
        # Core lists .gguf nowhere (ComfyUI-GGUF adds its own folder keys); adding it to core's extension sets
        # would offer GGUF files to core loaders that cannot read them, so they are found here.
        gguf = [n for base in folder_paths_for(kind) if os.path.isdir(base) for n in _cached_listing(base, None)
                if n.lower().endswith(".gguf") and n not in names]
        return names + sorted(gguf)
    names = []
    for base in folder_paths_for(kind):
        names += _cached_listing(base, None)
    return sorted(set(names))


def list_diffusers_folders(kind: str = "diffusers", marker: str = "model_index.json") -> list[str]:
    """Folders holding a diffusers model (found by their model_index.json or config.json)."""
    names: list[str] = []
    for base in folder_paths_for(kind):
        if os.path.isdir(base):
            names += _cached_listing(base, marker)
    return sorted(set(names))


# (base folder, marker or None for weight files) -> (names, {walked folder: mtime_ns}). A listing is walked
# again only when a folder in it changed (a file or folder added, removed or renamed changes its folder's
# mtime), so refreshing the node list does not rewalk a big models tree; checking costs one stat per folder.
# As git does with its index, a listing is kept only when every folder in it is older than the walk by more
# than the coarsest mtime granularity (FAT's 2 s): a change in the same clock tick as the walk is not missed.
_LISTINGS: dict[tuple[str, str | None], tuple[list[str], dict[str, int | None]]] = {}
_RACY_NS = 2_000_000_000
_LISTINGS_LOCK = threading.Lock()


def _mtime_ns(folder: str) -> int | None:
    try:
        return os.stat(folder).st_mtime_ns
    except OSError:
        return None


def _cached_listing(base: str, marker: str | None) -> list[str]:
    """Weight files (marker None) or folders holding `marker` under base, relative to it, from the cache
    while no walked folder has changed."""
    key = (os.path.abspath(base), marker)
    with _LISTINGS_LOCK:
        cached = _LISTINGS.get(key)
    if cached is not None and all(_mtime_ns(folder) == mtime for folder, mtime in cached[1].items()):
        return cached[0]
    names: list[str] = []
    walked_at = time.time_ns()
    stamps: dict[str, int | None] = {key[0]: _mtime_ns(key[0])}
    for root, _dirs, files in walk_without_loops(key[0]):
        stamps[root] = _mtime_ns(root)
        if marker is None:
            names += [os.path.relpath(os.path.join(root, f), key[0]) for f in files
                      if f.lower().endswith(WEIGHT_EXTENSIONS)]
        elif marker in files:
            names.append(os.path.relpath(root, key[0]))
    if all(mtime is None or mtime < walked_at - _RACY_NS for mtime in stamps.values()):
        with _LISTINGS_LOCK:
            _LISTINGS[key] = (names, stamps)
    return names


WALK_ALIASES = 8


def walk_without_loops(base: str) -> Iterable[tuple[str, list[str], list[str]]]:
    """os.walk(base, followlinks=True) that cannot loop: symlinked folders are followed (a symlink to a model
    folder elsewhere is a common setup, and each name for it is listed), except one whose real path is that of
    a folder it is inside, which would repeat forever. One real folder is walked at most WALK_ALIASES times
    (symlinks nesting aliases of aliases cannot multiply the work). Unreadable folders are skipped."""
    stack = [(base, (os.path.realpath(base),))]
    walked: dict[str, int] = {}
    while stack:
        folder, chain = stack.pop()
        walked[chain[-1]] = walked.get(chain[-1], 0) + 1
        dirs, files = [], []
        try:
            with os.scandir(folder) as entries:
                for entry in entries:
                    try:
                        (dirs if entry.is_dir() else files).append(entry.name)
                    except OSError:
                        continue
        except OSError:
            continue
        yield folder, dirs, files
        for name in sorted(dirs, reverse=True):
            path = os.path.join(folder, name)
            real = os.path.realpath(path)
            if real not in chain and walked.get(real, 0) < WALK_ALIASES:
                stack.append((path, (*chain, real)))


def resolve_in_folder(kind: str, name: str) -> str | None:
    """The full path of `name` inside one of the `kind` folders, or None.

    A name that leaves the folder ('..', absolute paths) is refused. The check is on the name, not on
    the resolved path: a symlink the user put inside a models folder is theirs to follow, as in ComfyUI.
    """
    for base in folder_paths_for(kind):
        candidate = resolve_in_folder_path(base, name)
        if candidate is not None and os.path.exists(candidate):
            return candidate
    return None


def resolve_in_folder_path(base: str, name: str) -> str | None:
    """base/name, or None when the name leaves base ('..', absolute paths): the same lexical check."""
    base_abs = os.path.abspath(base)
    candidate = os.path.normpath(os.path.join(base_abs, name))
    if os.path.commonpath([base_abs, candidate]) != base_abs or candidate == base_abs:
        return None
    return candidate


def output_directory() -> str:
    if IN_COMFY:
        return _folder_paths.get_output_directory()
    return os.path.abspath(os.environ.get("DV_OUTPUT_DIR", "output"))


def temp_directory() -> str:
    if IN_COMFY:
        return _folder_paths.get_temp_directory()
    import tempfile

    return os.path.join(tempfile.gettempdir(), "diffusers_video")


def input_directory() -> str:
    if IN_COMFY:
        return _folder_paths.get_input_directory()
    return os.path.abspath(os.environ.get("DV_INPUT_DIR", "input"))


def list_input_files(extensions: Iterable[str]) -> list[str]:
    """Files directly in the input folder with one of these extensions (no dot), sorted: a loader's combo."""
    folder = input_directory()
    wanted = {e.lower() for e in extensions}
    if not os.path.isdir(folder):
        return []
    return sorted(f for f in os.listdir(folder)
                  if f.rsplit(".", 1)[-1].lower() in wanted and os.path.isfile(os.path.join(folder, f)))


# Core's annotated file names: "clip.mp4 [output]" is in the output folder, as for core's LoadImage/LoadVideo.
_ANNOTATED_FOLDERS = {"[input]": input_directory, "[output]": output_directory, "[temp]": temp_directory}


def resolve_input_file(name: str) -> str | None:
    """The full path of a loader's file name: relative to the input folder, or to the output/temp folder
    when annotated like core's ("clip_00001.mp4 [output]"). None when the name leaves that folder."""
    base = input_directory
    for tag, folder in _ANNOTATED_FOLDERS.items():
        if name.endswith(tag):
            name, base = name[: -len(tag)].rstrip(), folder
            break
    if not name or os.path.isabs(name):
        return None
    base_abs = os.path.abspath(base())
    candidate = os.path.normpath(os.path.join(base_abs, name))
    try:
        inside = os.path.commonpath([base_abs, candidate]) == base_abs and candidate != base_abs
    except ValueError:  # another drive on Windows
        inside = False
    return candidate if inside else None


# Folders outside ComfyUI's input, output and temp folders that loader nodes may read, in one setting (off by
# default): the environment variable's value is a list of folders separated by os.pathsep.
READ_DIRS_SETTING = "DV_ALLOWED_READ_DIRS"


def allowed_read_folders() -> list[str]:
    """The real paths (symlinks resolved) of the folders loader nodes may read a file from: ComfyUI's input,
    output and temp folders, and the absolute folders listed in DV_ALLOWED_READ_DIRS."""
    folders = [input_directory(), output_directory(), temp_directory()]
    for entry in os.environ.get(READ_DIRS_SETTING, "").split(os.pathsep):
        entry = os.path.expanduser(entry.strip().strip('"'))
        if not entry:
            continue
        if not os.path.isabs(entry):
            log.warning("DiffusersVideo: %s entry '%s' is not an absolute path and is ignored.", READ_DIRS_SETTING,
                        entry)
            continue
        folders.append(entry)
    return [os.path.realpath(folder) for folder in folders]


def readable_real_path(path: str) -> str | None:
    """The real path of `path` (every symlink resolved) when it lies inside one of allowed_read_folders(),
    else None: a symlink in the input folder pointing elsewhere reads nothing from there."""
    try:
        real = os.path.realpath(path)
    except (OSError, ValueError):  # a NUL byte, a name the OS cannot take
        return None
    key = os.path.normcase(real)
    for folder in allowed_read_folders():
        root = os.path.normcase(folder)
        try:
            if os.path.commonpath([root, key]) == root and key != root:
                return real
        except ValueError:  # another drive on Windows
            continue
    return None


def readable_file(input_name: str, name: str, choose: str, allow_absolute: bool = False) -> str:
    """The real path of the file a loader node is asked to read, or DVInputError naming `input_name`.

    `name` is relative to the input folder (or annotated like core's "clip.mp4 [output]"); with
    `allow_absolute`, a full path is taken too. The file must lie, with symlinks resolved, inside ComfyUI's
    input, output or temp folder or a folder listed in DV_ALLOWED_READ_DIRS. A name that leaves its folder, a
    file outside those folders and a missing file all get the same answer, which depends on the name only: it
    never tells which files exist where the node may not read. `choose` says what a valid value looks like.
    """
    from .errors import DVInputError

    shown = name
    expanded = os.path.expanduser(name) if allow_absolute else name
    full = expanded if allow_absolute and os.path.isabs(expanded) else resolve_input_file(name)
    real = readable_real_path(full) if full else None
    if real is None or not os.path.isfile(real):
        looked = f" (looked for {full})" if full and full != expanded else ""
        raise DVInputError(
            input_name,
            f"'{shown}' does not exist, or is not in a folder this node may read{looked}.",
            f"{choose}. Files are read from ComfyUI's input, output and temp folders only; to read from another "
            f"folder, list it in the environment variable {READ_DIRS_SETTING} (full paths, separated by "
            f"'{os.pathsep}') before starting ComfyUI.",
        )
    return real


def metadata_disabled() -> bool:
    """ComfyUI's --disable-metadata switch (outside the host: DV_DISABLE_METADATA=1)."""
    if IN_COMFY:
        from comfy.cli_args import args

        return bool(args.disable_metadata)
    return os.environ.get("DV_DISABLE_METADATA") == "1"
