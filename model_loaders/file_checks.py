"""What is wrong with a broken model folder or file, in words a user can act on.

diffusers, transformers and safetensors answer a damaged download with their own text (a path twice and no
reason, "invalid header length", a JSON error that names no file, torch's pickle refusal with terminal
colour codes). The loaders call `diagnose` only after a load has failed, so a sound folder costs nothing;
it reads JSON files and safetensors headers, never the weights.
"""

from __future__ import annotations

import json
import os
import pickle
import re

ANSI_CODES = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
WEIGHT_SUFFIXES = (".safetensors", ".sft", ".bin", ".pt", ".pth", ".ckpt")
# The weights file name diffusers and transformers look for first, by library of the component.
WEIGHTS_NAME = {"diffusers": "diffusion_pytorch_model.safetensors", "transformers": "model.safetensors"}


def plain(text: str, limit: int = 300) -> str:
    """Library text fit for a message: no terminal colour codes, one line, at most `limit` characters."""
    text = " ".join(ANSI_CODES.sub("", text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def json_problem(path: str) -> str | None:
    """Why a JSON file cannot be read (with the error's line and column), or None when it parses."""
    try:
        with open(path, encoding="utf-8") as f:
            json.load(f)
    except json.JSONDecodeError as error:
        return f"is not valid JSON ({error.msg} at line {error.lineno}, column {error.colno})"
    except UnicodeDecodeError:
        return "is not a text file (it is damaged or not a config)"
    except OSError as error:
        return f"cannot be read ({error.strerror or error})"
    return None


def safetensors_problem(path: str) -> str | None:
    """What is wrong with a .safetensors file, from its header alone, or None when its size adds up."""
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as f:
            head = f.read(8)
            if len(head) < 8:
                return f"the file is truncated ({size} bytes: not even its 8-byte header length is there)"
            length = int.from_bytes(head, "little")
            if 8 + length > size:
                return (f"the file is truncated (its header alone needs {8 + length} bytes; the file has "
                        f"{size})" if length < 100_000_000 else "the file does not start with a safetensors header")
            header = json.loads(f.read(length))
    except OSError as error:
        return f"the file cannot be read ({error.strerror or error})"
    except ValueError:
        return "its header is damaged (not valid JSON)"
    if not isinstance(header, dict):
        return "its header is damaged (not a table of tensors)"
    ends = [entry["data_offsets"][1] for key, entry in header.items()
            if key != "__metadata__" and isinstance(entry, dict) and isinstance(entry.get("data_offsets"), list)
            and len(entry["data_offsets"]) == 2]
    expected = 8 + length + max(ends, default=0)
    if size < expected:
        return f"the file is truncated (expected {expected} bytes, found {size})"
    if size > expected:
        return f"the file is longer than its header says (expected {expected} bytes, found {size})"
    return None


def is_pickle_refusal(error: BaseException) -> bool:
    """torch refused a pickle (.bin/.pt) that holds more than tensors (weights_only loading)."""
    chain: BaseException | None = error
    while chain is not None:
        if isinstance(chain, pickle.UnpicklingError) or "Weights only load failed" in str(chain):
            return True
        chain = chain.__cause__ or chain.__context__
    return False


def _raised_building_a_module(error: BaseException) -> bool:
    """The error came from a torch module's __init__: the model was being built from its config (weights are
    read only after that), so the config holds a value the class cannot take."""
    import torch

    tb = error.__traceback__
    while tb is not None:
        frame = tb.tb_frame
        if frame.f_code.co_name == "__init__" and isinstance(frame.f_locals.get("self"), torch.nn.Module):
            return True
        tb = tb.tb_next
    return False


def diagnose(folder: str, shown: str, library: str, error: BaseException) -> tuple[str, str] | None:
    """(problem, what to do) for a component folder whose from_pretrained raised `error`, naming the file as
    `shown`/<file>; None when nothing here explains it (the caller re-raises the original error)."""
    try:
        files = sorted(os.listdir(folder))
    except OSError:
        return None
    for name in files:
        if name.endswith(".json"):
            problem = json_problem(os.path.join(folder, name))
            if problem:
                return (f"'{shown}/{name}' {problem}.",
                        f"fix or re-download {shown}/{name} (it must be the JSON file the model was saved with).")
    if "config.json" not in files and any(f.endswith(WEIGHT_SUFFIXES) for f in files) and library == "diffusers":
        return (f"'{shown}' has no config.json.", f"re-download {shown}/config.json.")
    for name in files:
        if name.endswith((".safetensors", ".sft")):
            problem = safetensors_problem(os.path.join(folder, name))
            if problem:
                return (f"'{shown}/{name}': {problem}.", f"re-download {shown}/{name}.")
    if is_pickle_refusal(error):
        pickles = [f for f in files if f.endswith((".bin", ".pt", ".pth", ".ckpt"))]
        label = f"{shown}/{pickles[0]}" if pickles else shown
        return (f"'{label}' is a pickle file holding Python objects besides tensors, which is not loaded because "
                "it could run code.",
                f"the .safetensors weights of this model in {shown} (re-download them, or convert the file "
                "where you trust its source).")
    if "config.json" in files and _raised_building_a_module(error):
        return (f"'{shown}/config.json' does not describe a model that can be built "
                f"({type(error).__name__}: {plain(str(error), 200)}).",
                f"re-download {shown}/config.json (the config the weights were saved with).")
    if not any(f.endswith(WEIGHT_SUFFIXES) for f in files) and "no file named" in str(error):
        expected = WEIGHTS_NAME.get(library, "the weights file")
        return (f"'{shown}' has no weights file (expected {expected}).",
                f"re-download {shown}/{expected} (and its .index.json if the model is sharded).")
    return None
