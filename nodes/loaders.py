"""Loader nodes: a whole diffusers folder, or one component of it."""

from __future__ import annotations

from ..model_loaders import loading

CATEGORY = "DiffusersVideo/loaders"

DTYPE_INPUT = (
    loading.DTYPES,
    {
        "default": "auto",
        "tooltip": "Weight dtype. auto: fp32 on CPU, bf16 on GPUs that support it, else fp16.",
    },
)


class DVPipelineLoader:
    DISPLAY_NAME = "DV Load Diffusers Pipeline"
    CATEGORY = CATEGORY
    DESCRIPTION = (
        "Loads every component of one diffusers video model folder (models/diffusers/<name> with a "
        "model_index.json): the DiT or UNet, the VAE, the text encoder with its tokenizer, and the scheduler. "
        "The family (CogVideoX, ...) is read from the folder's own config."
    )
    FUNCTION = "load"
    RETURN_TYPES = ("DV_MODEL", "DV_VAE", "DV_TEXT_ENCODER", "DV_SCHEDULER")
    RETURN_NAMES = ("model", "vae", "text_encoder", "scheduler")
    OUTPUT_TOOLTIPS = (
        "The denoiser (DiT/UNet), for DVSampler.",
        "The video VAE, for DVVAEDecode.",
        "The text encoder and tokenizer, for DVTextEncode.",
        "The folder's own scheduler settings; DVSampler uses them when no scheduler is wired.",
    )

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "model": (
                    loading.list_pipeline_folders(),
                    {"tooltip": "A folder under models/diffusers that holds a model_index.json."},
                ),
                "dtype": DTYPE_INPUT,
            }
        }

    def load(self, model: str, dtype: str):
        parts = loading.wrap_components(loading.load_pipeline_folder(model, dtype, "DVPipelineLoader", "model"))
        return parts["model"], parts["vae"], parts["text_encoder"], parts["scheduler"]


class DVModelLoader:
    DISPLAY_NAME = "DV Load Diffusion Model"
    CATEGORY = CATEGORY
    DESCRIPTION = (
        "Loads the DiT or UNet alone from a diffusers folder's subfolder (e.g. CogVideoX-5b/transformer), "
        "so it can be paired with a VAE or text encoder loaded separately or in another dtype."
    )
    FUNCTION = "load"
    RETURN_TYPES = ("DV_MODEL",)
    RETURN_NAMES = ("model",)
    OUTPUT_TOOLTIPS = ("The denoiser, for DVSampler.",)

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "model": (
                    loading.list_component_folders(None, "model"),
                    {"tooltip": "<diffusers folder>/<subfolder> whose config names a supported DiT or UNet."},
                ),
                "dtype": DTYPE_INPUT,
            }
        }

    def load(self, model: str, dtype: str):
        return (loading.load_model(model, dtype, "DVModelLoader", "model"),)


class DVVAELoader:
    DISPLAY_NAME = "DV Load VAE"
    CATEGORY = CATEGORY
    DESCRIPTION = "Loads a video VAE from a diffusers folder's subfolder (e.g. CogVideoX-2b/vae)."
    FUNCTION = "load"
    RETURN_TYPES = ("DV_VAE",)
    RETURN_NAMES = ("vae",)
    OUTPUT_TOOLTIPS = ("The video VAE, for DVVAEDecode.",)

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "vae": (
                    loading.list_component_folders(None, "vae"),
                    {"tooltip": "<diffusers folder>/<subfolder> whose config names a supported video VAE."},
                ),
                "dtype": DTYPE_INPUT,
            }
        }

    def load(self, vae: str, dtype: str):
        return (loading.load_vae(vae, dtype, "DVVAELoader", "vae"),)


class DVTextEncoderLoader:
    DISPLAY_NAME = "DV Load Text Encoder"
    CATEGORY = CATEGORY
    DESCRIPTION = (
        "Loads a text encoder and the tokenizer beside it from a diffusers folder (e.g. CogVideoX-2b/text_encoder)."
    )
    FUNCTION = "load"
    RETURN_TYPES = ("DV_TEXT_ENCODER",)
    RETURN_NAMES = ("text_encoder",)
    OUTPUT_TOOLTIPS = ("The text encoder with its tokenizer, for DVTextEncode.",)

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "text_encoder": (
                    loading.list_component_folders(None, "text_encoder"),
                    {"tooltip": "<diffusers folder>/<subfolder> holding a supported text encoder."},
                ),
                "dtype": DTYPE_INPUT,
            }
        }

    def load(self, text_encoder: str, dtype: str):
        return (loading.load_text_encoder(text_encoder, dtype, "DVTextEncoderLoader", "text_encoder"),)


NODES = [DVPipelineLoader, DVModelLoader, DVVAELoader, DVTextEncoderLoader]
