"""Latent nodes: a sampled latent saved with everything decoding needs, and loaded back, so a failed or changed
decode never costs the sampling again."""

from __future__ import annotations

import os

from ..errors import DVInputError

CATEGORY = "DiffusersVideo/latents"
OUTPUT_TAG = " [output]"  # core's annotation for a file in the output folder (host.resolve_input_file reads it)


def latent_choices() -> list[str]:
    """DV latent files: those in the input folder, then those anywhere in the output folder as "name [output]",
    so a latent saved by DVSaveLatent (or by a failed decode) can be picked without copying it."""
    from .. import host
    from ..video_io.latent_file import EXTENSION, is_latent_file

    choices = [name for name in host.list_input_files([EXTENSION])
               if is_latent_file(os.path.join(host.input_directory(), name))]
    output = host.output_directory()
    found = []
    for folder, dirs, files in os.walk(output):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in files:
            path = os.path.join(folder, name)
            if name.lower().endswith("." + EXTENSION) and not name.startswith(".") and is_latent_file(path):
                found.append(os.path.relpath(path, output).replace(os.sep, "/") + OUTPUT_TAG)
    return choices + sorted(found)


def _latent_path(latent: str) -> str:
    from .. import host

    if not latent:
        raise DVInputError("latent", "no latent file chosen.", "a file saved by DVSaveLatent, from the list.")
    # The pack's read policy: input/output/temp folders (and DV_ALLOWED_READ_DIRS), symlinks resolved.
    return host.readable_file("latent", latent, "a file name from the list (saved by DVSaveLatent)")


class DVSaveLatent:
    DISPLAY_NAME = "DV Save Latent"
    CATEGORY = CATEGORY
    DESCRIPTION = (
        "Saves a video latent as a .safetensors file in the output folder with every key decoding needs (family, "
        "frame count, LTX's decode noise and timestep), unlike core's Save Latent. Passes the latent on unchanged, "
        "so it can sit between DVSampler and DVVAEDecode: if decoding fails, DVLoadLatent -> DVVAEDecode resumes "
        "without sampling again. Never overwrites: each run gets the next number."
    )
    FUNCTION = "save"
    OUTPUT_NODE = True
    RETURN_TYPES = ("LATENT",)
    RETURN_NAMES = ("samples",)
    OUTPUT_TOOLTIPS = ("The same latent, unchanged, for DVVAEDecode.",)

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "samples": ("LATENT", {"tooltip": "From DVSampler, or DVLoadLatent."}),
                "filename_prefix": ("STRING", {"default": "DiffusersVideo/latent",
                                               "tooltip": "File name before the counter; may contain subfolders "
                                               "of the output folder."}),
            },
            "hidden": {"prompt": "PROMPT", "extra_pnginfo": "EXTRA_PNGINFO"},
        }

    def save(self, samples: dict, filename_prefix: str, prompt: dict | None = None,
             extra_pnginfo: dict | None = None):
        from .. import host
        from ..video_io.latent_file import write_latent
        from ..video_io.metadata import entries

        # The prompt and workflow ride along as core's SaveLatent keeps them: how the latent was made.
        extra = {} if host.metadata_disabled() else entries(prompt, extra_pnginfo)
        saved = write_latent(samples, host.output_directory(), filename_prefix, extra)
        shown = "/".join(part for part in (saved.subfolder.replace(os.sep, "/"), saved.filename) if part)
        ui = {"latents": [{"filename": saved.filename, "subfolder": saved.subfolder, "type": "output"}],
              "text": [shown + OUTPUT_TAG]}
        return {"ui": ui, "result": (samples,)}


class DVLoadLatent:
    DISPLAY_NAME = "DV Load Latent"
    CATEGORY = CATEGORY
    DESCRIPTION = (
        "Loads a video latent saved by DVSaveLatent (or by DVVAEDecode when it ran out of memory) with every key it "
        "was saved with, for DVVAEDecode. Lists latents in the input folder and, marked [output], in the output "
        "folder. Reads safetensors only, never pickle; other files are refused."
    )
    FUNCTION = "load"
    RETURN_TYPES = ("LATENT",)
    RETURN_NAMES = ("samples",)
    OUTPUT_TOOLTIPS = ("The latent as it was saved, for DVVAEDecode with a VAE of the same family.",)

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "latent": (latent_choices(), {
                    "tooltip": "A .safetensors latent saved by DVSaveLatent: in the input folder, or in the output "
                    "folder (marked [output])."}),
            },
        }

    @classmethod
    def VALIDATE_INPUTS(cls, latent: str = ""):  # noqa: N802 - ComfyUI's name
        # Named here, 'latent' skips ComfyUI's value-in-list check, so a file that is not (or no longer) a
        # listed latent gets this node's own error saying what is wrong with it when the node runs.
        return True

    @classmethod
    def IS_CHANGED(cls, latent: str = ""):  # noqa: N802 - ComfyUI's name
        """The file's fingerprint: a replaced file is read again, an unchanged one is not."""
        try:
            full = _latent_path(latent)
        except DVInputError:
            return float("nan")  # never equal: the error shows again on the next run
        stat = os.stat(full)
        return f"{full}|{stat.st_size}|{stat.st_mtime_ns}|{stat.st_ctime_ns}|{stat.st_ino}"

    def load(self, latent: str):
        import torch

        from .. import host
        from ..video_io.latent_file import LatentFileError, read_latent

        full = _latent_path(latent)
        try:
            loaded = read_latent(full)
        except LatentFileError as error:
            raise DVInputError("latent", f"'{latent}' cannot be loaded: {error}.",
                               "a .safetensors latent saved by DVSaveLatent.") from None
        return ({key: value.to(host.intermediate_device()) if isinstance(value, torch.Tensor) else value
                 for key, value in loaded.items()},)


NODES = [DVSaveLatent, DVLoadLatent]
