"""Models on demand: a diffusers folder fetched from the Hugging Face Hub into models/diffusers, when allowed.

Off unless the environment variable DV_ALLOW_DOWNLOADS is set where ComfyUI starts; DV_DOWNLOAD_MAX_GB caps
the size of one download and DV_DOWNLOAD_ALLOW limits which repos may be fetched (fnmatch patterns). The
transfer is huggingface_hub's (HF_TOKEN, HF_ENDPOINT and the Hugging Face cache work as everywhere): files
land in its cache first, where finished files stay, so running again after a failure fetches only what is
missing. The model folder is assembled in a hidden staging folder beside its destination and renamed into
place only when complete; a failed or interrupted download removes the staging folder again.

Only what the pipeline needs is fetched: model_index.json, and of each component folder it names the
configs, the tokenizer files and the safetensors weights (pickle weights only where a component has no
safetensors, a variant such as fp16 only when asked for). A repo that would need remote code is refused.
The loaders never download: they list folders only, so a downloaded model is picked after a refresh.
"""

from __future__ import annotations

import fnmatch
import importlib
import json
import logging
import os
import re
import shutil
from dataclasses import dataclass
from typing import Any

from .. import host
from ..errors import DVInputError
from .loading import TRUSTED_LIBRARIES, is_component_entry

log = logging.getLogger("DiffusersVideo")

ENABLE_SETTING = "DV_ALLOW_DOWNLOADS"
MAX_GB_SETTING = "DV_DOWNLOAD_MAX_GB"
ALLOW_SETTING = "DV_DOWNLOAD_ALLOW"
DEFAULT_MAX_GB = 100.0
GB = 1000**3

STAGING_PREFIX = ".dv-download-"
MARKER = ".dv-download.json"  # in a finished folder: which repo, revision and commit it holds
INDEX = "model_index.json"

# What of a component folder is fetched, by file name; the first matching pattern wins and a name that
# matches none (READMEs, images, exports for other runtimes) is left out. "config" files always come;
# of the weights, safetensors are preferred and "pickle" ones fetched only for a component without any.
FILE_RULES: tuple[tuple[str, str], ...] = (
    ("*.py", "skip"),  # code: this pack never runs fetched code
    ("*.onnx*", "skip"),
    ("*.msgpack", "skip"),  # flax
    ("*.h5", "skip"),  # tensorflow
    ("*.ot", "skip"),  # rust
    ("*.safetensors.index*.json", "safetensors"),
    ("*.safetensors", "safetensors"),
    ("*.bin.index*.json", "pickle"),
    ("*.bin", "pickle"),
    ("*.pt", "pickle"),
    ("*.pth", "pickle"),
    ("*.ckpt", "pickle"),
    ("*.json", "config"),
    ("*.txt", "config"),  # merges.txt, vocab.txt
    ("*.model", "config"),  # sentencepiece
    ("*.tiktoken", "config"),
    ("*.jinja", "config"),  # chat templates
)
WEIGHT_KINDS = ("safetensors", "pickle")  # in order of preference

# diffusers' variant names: diffusion_pytorch_model.fp16.safetensors, model.fp16-00001-of-00002.safetensors,
# diffusion_pytorch_model.safetensors.index.fp16.json.
_WEIGHT_NAME = re.compile(r"^(?P<stem>[^.]+)(?:\.(?P<variant>\w+))?(?P<shard>-\d+-of-\d+)?\.(?P<ext>\w+)$")
_INDEX_NAME = re.compile(r"^(?P<stem>[^.]+)\.(?P<ext>safetensors|bin)\.index(?:\.(?P<variant>\w+))?\.json$")

_REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}/[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")
_REVISION = re.compile(r"^[A-Za-z0-9._/-]{1,200}$")
_FOLDER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._ +-]{0,199}$")
_VARIANT = re.compile(r"^\w{1,32}$")


@dataclass(frozen=True)
class PlannedFile:
    repo_path: str  # the file in the repo
    local_path: str  # where it goes in the model folder ("/"-separated; a variant's file under the plain name)
    kind: str  # "config", "safetensors" or "pickle"
    size: int  # bytes, from the repo's listing (0 when the Hub did not say)
    variant: str | None = None  # set when the file is a variant renamed to the plain name


# ------------------------------------------------------------------------------------------ settings


def downloads_enabled() -> bool:
    return os.environ.get(ENABLE_SETTING, "").strip().lower() in ("1", "true", "yes", "on")


def _check_enabled() -> None:
    if not downloads_enabled():
        raise DVInputError(
            "repo_id",
            f"downloads are off: this pack fetches models only when the environment variable {ENABLE_SETTING} "
            "is set (e.g. to 1) where ComfyUI starts.",
            f"start ComfyUI with {ENABLE_SETTING}=1 (see docs/downloads.md), or put the model folder into "
            "models/diffusers yourself.",
        )


def max_bytes() -> int:
    text = os.environ.get(MAX_GB_SETTING, "").strip()
    try:
        gigabytes = float(text) if text else DEFAULT_MAX_GB
    except ValueError:
        gigabytes = -1.0
    if not gigabytes > 0:
        raise DVInputError("repo_id", f"the setting {MAX_GB_SETTING}={text!r} is not a size in GB.",
                           f"a positive number of gigabytes, e.g. {MAX_GB_SETTING}={DEFAULT_MAX_GB:g}.")
    return int(gigabytes * GB)


def allow_patterns() -> list[str]:
    """DV_DOWNLOAD_ALLOW: fnmatch patterns of repo ids, separated by commas or spaces ("*" when unset)."""
    text = os.environ.get(ALLOW_SETTING, "").strip() or "*"
    return [p for p in re.split(r"[,\s]+", text) if p]


def _check_allowed(repo_id: str) -> None:
    patterns = allow_patterns()
    if not any(fnmatch.fnmatchcase(repo_id.lower(), p.lower()) for p in patterns):
        raise DVInputError("repo_id", f"'{repo_id}' is not allowed by {ALLOW_SETTING} ({', '.join(patterns)}).",
                           f"a repo id that matches {ALLOW_SETTING}, or a wider pattern in that setting.")


# ------------------------------------------------------------------------------------------- inputs


def check_inputs(repo_id: str, revision: str, name: str, variant: str) -> tuple[str, str, str, str | None]:
    """The inputs cleaned up (surrounding spaces, defaults), or a DVInputError."""
    repo_id = (repo_id or "").strip()
    if not _REPO_ID.match(repo_id) or ".." in repo_id:
        raise DVInputError("repo_id", f"'{repo_id}' is not a Hugging Face repo id.",
                           "owner/name as on the Hub, e.g. THUDM/CogVideoX-2b.")
    revision = (revision or "").strip() or "main"
    if not _REVISION.match(revision) or ".." in revision or revision.startswith("/"):
        raise DVInputError("revision", f"'{revision}' is not a branch, tag or commit.", "main, a tag or a commit hash.")
    name = (name or "").strip() or repo_id.split("/", 1)[1]
    if not _FOLDER_NAME.match(name) or ".." in name:
        raise DVInputError("name", f"'{name}' is not a plain folder name (no path separators, no '..', not hidden).",
                           "letters, digits and . _ - + or spaces, e.g. CogVideoX-2b.")
    variant = (variant or "").strip()
    if variant and not _VARIANT.match(variant):
        raise DVInputError("variant", f"'{variant}' is not a weight variant name.", "empty, or e.g. fp16 or bf16.")
    return repo_id, revision, name, variant or None


# ------------------------------------------------------------------------------------ file selection


def file_kind(filename: str) -> str:
    base = filename.rsplit("/", 1)[-1]
    for pattern, kind in FILE_RULES:
        if fnmatch.fnmatchcase(base, pattern):
            return kind
    return "skip"


def weight_variant(filename: str) -> str | None:
    base = filename.rsplit("/", 1)[-1]
    match = _INDEX_NAME.match(base) or _WEIGHT_NAME.match(base)
    return match.group("variant") if match else None


def plain_name(filename: str) -> str:
    """A variant file's name without the variant (what from_pretrained reads when no variant is given)."""
    folder, _, base = filename.rpartition("/")
    index = _INDEX_NAME.match(base)
    if index:
        base = f"{index['stem']}.{index['ext']}.index.json"
    else:
        weight = _WEIGHT_NAME.match(base)
        if weight and weight["variant"]:
            base = f"{weight['stem']}{weight['shard'] or ''}.{weight['ext']}"
    return f"{folder}/{base}" if folder else base


def component_folders(index: dict[str, Any]) -> list[str]:
    return [key for key, value in index.items()
            if not key.startswith("_") and is_component_entry(value) and value[0] is not None]


def plan_files(listing: dict[str, int | None], index: dict[str, Any], variant: str | None) -> list[PlannedFile]:
    """What to fetch: model_index.json and, per component folder it names, the configs and one set of weights."""
    plan = [PlannedFile(INDEX, INDEX, "config", listing.get(INDEX) or 0)]
    for folder in component_folders(index):
        children = sorted(path for path in listing if path.rpartition("/")[0] == folder)
        weights: dict[str, dict[str | None, list[str]]] = {kind: {} for kind in WEIGHT_KINDS}
        for path in children:
            kind = file_kind(path)
            if kind == "config":
                plan.append(PlannedFile(path, path, kind, listing[path] or 0))
            elif kind in weights:
                weights[kind].setdefault(weight_variant(path), []).append(path)
        for kind in WEIGHT_KINDS:
            if weights[kind]:
                chosen = _choose_variant(folder, weights[kind], variant)
                plan += [PlannedFile(path, plain_name(path) if chosen else path, kind, listing[path] or 0, chosen)
                         for path in weights[kind][chosen]]
                break
    return plan


def _choose_variant(folder: str, by_variant: dict[str | None, list[str]], wanted: str | None) -> str | None:
    """The asked-for variant where the component has it, else the plain weights, else its only variant."""
    if wanted in by_variant:
        return wanted
    if None in by_variant:
        return None
    if len(by_variant) == 1:
        return next(iter(by_variant))
    found = ", ".join(sorted(v for v in by_variant if v))
    raise DVInputError("variant", f"'{folder}' has only the weight variants {found}, no plain weights.",
                       f"one of {found}.")


# ------------------------------------------------------------------------------------------ remote code


def _has_class(library: str, class_name: str) -> bool:
    if library not in TRUSTED_LIBRARIES or not isinstance(class_name, str):
        return False
    try:
        return getattr(importlib.import_module(library), class_name, None) is not None
    except (ImportError, RuntimeError):
        return False


def _remote_code(repo_id: str, what: str) -> DVInputError:
    return DVInputError("repo_id", f"'{repo_id}': {what}, so it would need remote code, which this pack never runs.",
                        "a repo whose model_index.json and configs name diffusers and transformers classes only "
                        "(no auto_map).")


def check_index(repo_id: str, index: dict[str, Any]) -> None:
    """Refuse a model_index.json that needs code from the repo: auto_map, or classes diffusers/transformers lack."""
    if "auto_map" in index:
        raise _remote_code(repo_id, "its model_index.json has an auto_map")
    pipeline = index.get("_class_name")
    if not isinstance(pipeline, str) or not _has_class("diffusers", pipeline):
        raise _remote_code(repo_id, f"its pipeline class {pipeline!r} is not one of diffusers "
                           f"{_version('diffusers')} (a newer diffusers might have it)")
    for folder in component_folders(index):
        library, class_name = index[folder]
        if not _has_class(library, class_name):
            raise _remote_code(repo_id, f"its component '{folder}' is {library}.{class_name}, which is not a class of "
                               f"{' or '.join(TRUSTED_LIBRARIES)}")


def check_config(repo_id: str, path: str, repo_path: str) -> None:
    try:
        with open(path, encoding="utf-8") as f:
            config = json.load(f)
    except (OSError, ValueError):
        return  # not a JSON object (a vocab, an index): nothing that could name code
    if isinstance(config, dict) and "auto_map" in config:
        raise _remote_code(repo_id, f"its {repo_path} has an auto_map")


def _version(library: str) -> str:
    try:
        return importlib.import_module(library).__version__
    except ImportError:
        return "(not installed)"


# -------------------------------------------------------------------------------------------- fetching


def _size(size: int) -> str:
    return f"{size / GB:.2f} GB" if size >= GB // 10 else f"{size / 1000**2:.1f} MB"


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__


def _hub_error(repo_id: str, revision: str, error: Exception) -> DVInputError:
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    if isinstance(error, GatedRepoError):
        return DVInputError("repo_id", f"'{repo_id}' is gated: its terms must be accepted on the Hub first.",
                            "accept them on the model's page, then set HF_TOKEN where ComfyUI starts.")
    if isinstance(error, RevisionNotFoundError):
        return DVInputError("revision", f"'{repo_id}' has no revision '{revision}'.", "main, a tag or a commit hash.")
    status = getattr(getattr(error, "response", None), "status_code", None)
    if isinstance(error, RepositoryNotFoundError) or (isinstance(error, HfHubHTTPError) and status in (401, 404)):
        return DVInputError("repo_id", f"'{repo_id}' was not found on the Hub, or it is private.",
                            "an existing owner/name; for a private repo set HF_TOKEN where ComfyUI starts.")
    return DVInputError("repo_id", f"could not read '{repo_id}' from the Hub ({_first_line(error)}).",
                        "check the network (or HF_ENDPOINT) and run again.")


def _repo_listing(repo_id: str, revision: str) -> tuple[str, dict[str, int | None]]:
    """The commit the revision points at, and every file of the repo with its size."""
    from huggingface_hub import HfApi

    try:
        info = HfApi().model_info(repo_id, revision=revision, files_metadata=True)
    except Exception as error:  # noqa: BLE001 - every way the Hub can fail becomes one message
        raise _hub_error(repo_id, revision, error) from error
    listing = {s.rfilename: (s.lfs.size if s.lfs is not None else s.size) for s in info.siblings or ()}
    return info.sha or revision, listing


def _fetch(repo_id: str, commit: str, repo_path: str) -> str:
    """One file through the Hugging Face cache (resumable there); its path in the cache."""
    from huggingface_hub import hf_hub_download

    return hf_hub_download(repo_id, repo_path, revision=commit)


def _place(cached: str, target: str, item: PlannedFile) -> None:
    """Put a fetched file into the model folder: weights hard-linked to the cache where the filesystem allows
    (no second copy on disk), everything else copied (an edited config must never change the cache)."""
    os.makedirs(os.path.dirname(target), exist_ok=True)
    source = os.path.realpath(cached)
    if item.variant and item.repo_path.endswith(".json"):  # a variant's shard index names the variant's shards
        with open(source, encoding="utf-8") as f:
            shard_index = json.load(f)
        weight_map = shard_index.get("weight_map", {})
        shard_index["weight_map"] = {key: plain_name(value) for key, value in weight_map.items()}
        with open(target, "w", encoding="utf-8") as f:
            json.dump(shard_index, f, indent=2)
        return
    if item.kind in WEIGHT_KINDS and not item.repo_path.endswith(".json"):
        try:
            os.link(source, target)
            return
        except OSError:
            pass
    shutil.copyfile(source, target)


def _check_disk(paths: list[str], needed: int) -> None:
    for path in paths:
        while path and not os.path.isdir(path):
            parent = os.path.dirname(path)
            path = "" if parent == path else parent
        if path and shutil.disk_usage(path).free < needed:
            free = shutil.disk_usage(path).free
            raise DVInputError("repo_id", f"the download needs {_size(needed)} but {path} has {_size(free)} free.",
                               "free some disk space, or set HF_HUB_CACHE to a larger disk.")


def _existing(target: str, name: str, repo_id: str, revision: str, variant: str | None) -> str:
    """An earlier download of the same repo under this name is reused; anything else there is refused."""
    marker = {}
    try:
        with open(os.path.join(target, MARKER), encoding="utf-8") as f:
            marker = json.load(f)
    except (OSError, ValueError):
        pass
    same = (str(marker.get("repo_id", "")).lower() == repo_id.lower() and marker.get("revision") == revision
            and marker.get("variant") == variant)
    if not same:
        held = f"{marker['repo_id']}@{marker.get('revision')}" if marker.get("repo_id") else "another model"
        raise DVInputError("name", f"models/diffusers/{name} already exists and holds {held}.",
                           "another folder name, or delete that folder first.")
    log.info("DiffusersVideo: %s is already in models/diffusers/%s; not downloading it again.", repo_id, name)
    return name


def download_pipeline(repo_id: str, revision: str = "main", name: str = "", variant: str = "") -> str:
    """Fetch a diffusers pipeline repo into models/diffusers/<name>; returns <name> for DVPipelineLoader."""
    _check_enabled()
    cap = max_bytes()
    repo_id, revision, name, wanted = check_inputs(repo_id, revision, name, variant)
    _check_allowed(repo_id)

    folders = host.folder_paths_for("diffusers")
    if not folders:
        raise DVInputError("name", "ComfyUI has no diffusers models folder.", "a models/diffusers folder.")
    base = os.path.abspath(folders[0])
    target = host.resolve_in_folder_path(base, name)
    if target is None:
        raise DVInputError("name", f"'{name}' leaves the diffusers models folder.", "a plain folder name.")
    if os.path.exists(target):
        return _existing(target, name, repo_id, revision, wanted)

    from huggingface_hub import constants

    if constants.is_offline_mode():
        raise DVInputError("repo_id", "HF_HUB_OFFLINE is set, so nothing can be fetched from the Hub.",
                           "unset HF_HUB_OFFLINE where ComfyUI starts.")

    commit, listing = _repo_listing(repo_id, revision)
    if INDEX not in listing:
        raise DVInputError("repo_id", f"'{repo_id}' has no model_index.json, so it is not a diffusers pipeline.",
                           "a repo in the diffusers format (with model_index.json), e.g. THUDM/CogVideoX-2b.")
    try:
        index_file = _fetch(repo_id, commit, INDEX)
        with open(index_file, encoding="utf-8") as f:
            index = json.load(f)
    except Exception as error:  # noqa: BLE001
        raise _hub_error(repo_id, revision, error) from error
    if not isinstance(index, dict):
        raise DVInputError("repo_id", f"the model_index.json of '{repo_id}' is not a JSON object.",
                           "a repo in the diffusers format.")
    check_index(repo_id, index)

    plan = plan_files(listing, index, wanted)
    total = sum(item.size for item in plan)
    if total > cap:
        raise DVInputError("repo_id", f"'{repo_id}' needs {_size(total)} ({len(plan)} files), more than the "
                           f"{MAX_GB_SETTING} cap of {cap / GB:g} GB.",
                           f"raise {MAX_GB_SETTING} where ComfyUI starts, or pick a smaller model or a variant "
                           "(e.g. fp16).")
    _check_disk([base, constants.HF_HUB_CACHE], total)

    staging = os.path.join(base, STAGING_PREFIX + name)
    shutil.rmtree(staging, ignore_errors=True)  # left by a process that was killed outright
    log.info("DiffusersVideo: downloading %s@%s (%d files, %s) into %s", repo_id, revision, len(plan),
             _size(total), target)
    # Configs first (checked for auto_map before any weights come); model_index.json last, so a staging folder
    # never looks like a model to the loaders' listings.
    ordered = sorted(plan[1:], key=lambda item: item.kind != "config") + plan[:1]
    progress = host.Progress(len(ordered), f"Downloading {repo_id}")
    try:
        os.makedirs(staging)
        for item in ordered:
            local = os.path.join(staging, *item.local_path.split("/"))
            try:
                _place(_fetch(repo_id, commit, item.repo_path), local, item)
            except Exception as error:  # noqa: BLE001 - network, Hub and disk failures alike
                raise DVInputError(
                    "repo_id", f"downloading {item.repo_path} of '{repo_id}' failed ({_first_line(error)}); nothing "
                    "was added to models/diffusers.",
                    "run again: finished files stay in the Hugging Face cache, so only the rest is fetched.",
                ) from error
            if item.kind == "config":
                check_config(repo_id, local, item.repo_path)
            progress.update(1)
        with open(os.path.join(staging, MARKER), "w", encoding="utf-8") as f:
            json.dump({"repo_id": repo_id, "revision": revision, "commit": commit, "variant": wanted,
                       "files": [item.local_path for item in plan]}, f, indent=2)
        os.rename(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    finally:
        progress.close()
    log.info("DiffusersVideo: %s is ready as models/diffusers/%s; refresh the page to pick it.", repo_id, name)
    return name
