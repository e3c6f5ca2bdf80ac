"""Models on demand: a diffusers folder fetched from the Hugging Face Hub, only when the user allowed downloads."""

from __future__ import annotations

from ..model_loaders import download

CATEGORY = "DiffusersVideo/loaders"


class DVDownloadModel:
    DISPLAY_NAME = "DV Download Model (Hugging Face)"
    CATEGORY = CATEGORY
    DESCRIPTION = (
        f"Off unless ComfyUI was started with the environment variable {download.ENABLE_SETTING}=1 (see "
        "docs/downloads.md). Fetches a diffusers model (a Hugging Face repo with a model_index.json) into "
        "models/diffusers/<name>: only the files its pipeline needs, safetensors weights, never code. "
        f"{download.MAX_GB_SETTING} caps the size and {download.ALLOW_SETTING} limits which repos may be fetched. "
        "Returns the folder name: refresh the page and pick it in DVPipelineLoader (loaders never download)."
    )
    FUNCTION = "download"
    OUTPUT_NODE = True  # runs on its own, without a node after it
    RETURN_TYPES = ("STRING",)
    RETURN_NAMES = ("name",)
    OUTPUT_TOOLTIPS = ("The folder under models/diffusers that now holds the model.",)

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "repo_id": ("STRING", {"default": "", "tooltip": "The Hugging Face repo, owner/name (e.g. "
                                       "THUDM/CogVideoX-2b). HF_TOKEN is used for gated or private repos."}),
            },
            "optional": {
                "revision": ("STRING", {"default": "main", "tooltip": "Branch, tag or commit of the repo."}),
                "name": ("STRING", {"default": "", "tooltip": "Folder name under models/diffusers; empty: the "
                                    "repo's name. An existing folder of the same download is reused."}),
                "variant": ("STRING", {"default": "", "tooltip": "Weight variant to fetch instead of the plain "
                                       "weights where the repo has it (e.g. fp16); empty: the plain weights."}),
            },
        }

    def download(self, repo_id: str, revision: str = "main", name: str = "", variant: str = ""):
        return (download.download_pipeline(repo_id, revision, name, variant),)


NODES = [DVDownloadModel]
