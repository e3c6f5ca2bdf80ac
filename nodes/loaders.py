"""Loader nodes: a whole diffusers folder, or one component of it."""

from __future__ import annotations

from ..model_loaders import loading, storage

CATEGORY = "DiffusersVideo/loaders"

AUTO_DTYPE = ("auto: the family's guide default for this component: fp32 on CPU; on a GPU the dtype the "
              "family's diffusers guide loads it in (e.g. Wan's VAE fp32, SVD/AnimateDiff fp16), else bf16 where "
              "the GPU supports it, else fp16 (fp32 for DiTs that overflow in fp16, such as Wan).")

DTYPE_INPUT = (
    loading.DTYPES,
    {
        "default": "auto",
        "tooltip": "Weight dtype. " + AUTO_DTYPE,
    },
)

PIPELINE_DTYPE_INPUT = (
    loading.DTYPES,
    {
        "default": "auto",
        "tooltip": "Weight dtype of the denoiser (DiT/UNet), and of every other component whose own *_dtype "
        "input is auto. " + AUTO_DTYPE,
    },
)


def component_dtype_input(component: str, example: str) -> tuple:
    return (
        loading.DTYPES,
        {
            "default": "auto",
            "tooltip": f"Weight dtype of the {component}. auto: as 'dtype', whose auto is the family's guide "
            f"default ({example}).",
        },
    )


def config_input() -> tuple:
    return (
        loading.config_choices(),
        {
            "tooltip": "Single files only: where the config comes from. A local diffusers folder of the same "
            "model works offline; the Hugging Face default needs the network or the Hugging Face cache.",
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
                "dtype": PIPELINE_DTYPE_INPUT,
            },
            "optional": {
                "weights": storage.STORAGE_INPUT,
                "vae_dtype": component_dtype_input("VAE", "e.g. fp32 for Wan and Mochi-1, fp16 for HunyuanVideo"),
                "text_encoder_dtype": component_dtype_input("text encoder(s)", "e.g. fp16 for HunyuanVideo"),
                "image_encoder_dtype": component_dtype_input("image encoder, where the model has one",
                                                             "e.g. fp32 for Wan2.1 image-to-video"),
            },
        }

    def load(self, model: str, dtype: str, weights: str = "as dtype", vae_dtype: str = "auto",
             text_encoder_dtype: str = "auto", image_encoder_dtype: str = "auto"):
        own = {"vae": vae_dtype, "text_encoder": text_encoder_dtype, "image_encoder": image_encoder_dtype}
        parts = loading.wrap_components(loading.load_pipeline_folder(model, dtype, "model", weights, own))
        return parts["model"], parts["vae"], parts["text_encoder"], parts["scheduler"]


class DVModelLoader:
    DISPLAY_NAME = "DV Load Diffusion Model"
    CATEGORY = CATEGORY
    DESCRIPTION = (
        "Loads the DiT or UNet alone: a diffusers folder's subfolder (e.g. CogVideoX-5b/transformer), or a "
        "single .safetensors or quantized .gguf in models/diffusion_models whose model diffusers detects from its "
        "tensors (Wan, LTX-Video, HunyuanVideo, Mochi). Pair it with a VAE and text encoder loaded separately."
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
                    loading.list_models(),
                    {"tooltip": "<diffusers folder>/<subfolder> whose config names a supported DiT or UNet, or a "
                     "single file from models/diffusion_models."},
                ),
                "dtype": DTYPE_INPUT,
            },
            "optional": {
                "config": config_input(),
                "weights": storage.STORAGE_INPUT,
                "model_2": ([loading.NO_SECOND_EXPERT, *loading.list_models()], {
                    "default": loading.NO_SECOND_EXPERT,
                    "tooltip": "Two-expert models (Wan2.2 A14B): the low-noise expert (transformer_2), the same "
                    "kind of file or folder as 'model', which is then the high-noise one."}),
                "boundary_ratio": ("FLOAT", {
                    "default": 0.0, "min": 0.0, "max": 1.0, "step": 0.005,
                    "tooltip": "Two experts: the fraction of the training timesteps above which the first expert "
                    "runs (Wan2.2 A14B: 0.875 text-, 0.9 image-to-video). 0 takes it from the config folder."}),
            },
        }

    def load(self, model: str, dtype: str, config: str = "", weights: str = "as dtype",
             model_2: str = loading.NO_SECOND_EXPERT, boundary_ratio: float = 0.0):
        from ..errors import finite_number

        boundary_ratio = finite_number("boundary_ratio", boundary_ratio, 0.0, 1.0,
                                       "a fraction from 0 to 1 (0: the config folder's).")
        return (loading.load_model(model, dtype, "model", config, weights, model_2, boundary_ratio),)


class DVVAELoader:
    DISPLAY_NAME = "DV Load VAE"
    CATEGORY = CATEGORY
    DESCRIPTION = ("Loads a video VAE: a diffusers folder's subfolder (e.g. CogVideoX-2b/vae), or a single "
                   ".safetensors in models/vae that diffusers can read (the Wan VAE).")
    FUNCTION = "load"
    RETURN_TYPES = ("DV_VAE",)
    RETURN_NAMES = ("vae",)
    OUTPUT_TOOLTIPS = ("The video VAE, for DVVAEDecode.",)

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "vae": (
                    loading.list_vaes(),
                    {"tooltip": "<diffusers folder>/<subfolder> whose config names a supported video VAE, or a "
                     "single file from models/vae."},
                ),
                "dtype": DTYPE_INPUT,
            },
            "optional": {"config": config_input()},
        }

    def load(self, vae: str, dtype: str, config: str = ""):
        return (loading.load_vae(vae, dtype, "vae", config),)


class DVTextEncoderLoader:
    DISPLAY_NAME = "DV Load Text Encoder"
    CATEGORY = CATEGORY
    DESCRIPTION = (
        "Loads a text encoder and the tokenizer beside it from a diffusers folder (e.g. CogVideoX-2b/text_encoder), "
        "or a GGUF T5/UMT5 encoder from models/text_encoders with the tokenizer of the diffusers folder in "
        "'config' (dequantized while loading: it saves disk, not memory)."
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
                    loading.list_text_encoders(),
                    {"tooltip": "<diffusers folder>/<subfolder> holding a supported text encoder, or a .gguf "
                     "from models/text_encoders."},
                ),
                "dtype": DTYPE_INPUT,
            },
            "optional": {
                "config": (loading.list_pipeline_folders(), {
                    "tooltip": "GGUF text encoders only: the diffusers folder whose tokenizer (and family) the "
                    "encoder goes with."}),
            },
        }

    def load(self, text_encoder: str, dtype: str, config: str = ""):
        return (loading.load_text_encoder(text_encoder, dtype, "text_encoder", config),)


class DVMotionAdapterLoader:
    DISPLAY_NAME = "DV Load Motion Adapter"
    CATEGORY = CATEGORY
    DESCRIPTION = (
        "Loads an AnimateDiff motion adapter from models/animatediff_models (a diffusers folder or an original "
        ".safetensors). Apply it to a Stable Diffusion 1.5 model with DVApplyMotionAdapter."
    )
    FUNCTION = "load"
    RETURN_TYPES = ("DV_MOTION_ADAPTER",)
    RETURN_NAMES = ("motion_adapter",)
    OUTPUT_TOOLTIPS = ("The motion adapter, for DVApplyMotionAdapter.",)

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "motion_adapter": (loading.list_motion_adapters(),
                                   {"tooltip": "A MotionAdapter folder or file in models/animatediff_models."}),
                "dtype": DTYPE_INPUT,
            }
        }

    def load(self, motion_adapter: str, dtype: str):
        return (DVMotionAdapter(loading.load_motion_adapter(motion_adapter, dtype), motion_adapter),)


class DVApplyMotionAdapter:
    DISPLAY_NAME = "DV Apply Motion Adapter"
    CATEGORY = CATEGORY
    DESCRIPTION = (
        "Turns a Stable Diffusion 1.5 model into an AnimateDiff video model by adding the motion adapter's "
        "temporal layers (the model loaded for other branches is not changed). Its scheduler becomes DDIM with "
        "the AnimateDiff guide's settings."
    )
    FUNCTION = "apply"
    RETURN_TYPES = ("DV_MODEL",)
    RETURN_NAMES = ("model",)
    OUTPUT_TOOLTIPS = ("An AnimateDiff model for DVSampler.",)

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "model": ("DV_MODEL", {"tooltip": "A Stable Diffusion 1.5 model from DVPipelineLoader."}),
                "motion_adapter": ("DV_MOTION_ADAPTER", {"tooltip": "From DVMotionAdapterLoader."}),
            }
        }

    def apply(self, model, motion_adapter):
        from ..errors import expect_type
        from ..families.animatediff import apply_motion_adapter
        from ..model_loaders.components import DVModel

        expect_type("model", model, DVModel, "a DV_MODEL")
        expect_type("motion_adapter", motion_adapter, DVMotionAdapter, "a DV_MOTION_ADAPTER")
        return (apply_motion_adapter(model, motion_adapter.adapter),)


class DVCheckpointLoader:
    DISPLAY_NAME = "DV Load SD1.5 Checkpoint"
    CATEGORY = CATEGORY
    DESCRIPTION = (
        "Loads a Stable Diffusion 1.5 single-file checkpoint (.safetensors in models/checkpoints, the original "
        "layout ComfyUI users share) as a model, VAE, text encoder and scheduler, for AnimateDiff (with "
        "DVApplyMotionAdapter) or ControlNet video. diffusers converts it; its config comes from 'config'."
    )
    FUNCTION = "load"
    RETURN_TYPES = ("DV_MODEL", "DV_VAE", "DV_TEXT_ENCODER", "DV_SCHEDULER")
    RETURN_NAMES = ("model", "vae", "text_encoder", "scheduler")
    OUTPUT_TOOLTIPS = DVPipelineLoader.OUTPUT_TOOLTIPS

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "ckpt_name": (loading.list_checkpoints(), {"tooltip": "An SD1.5 .safetensors in models/checkpoints."}),
                "dtype": DTYPE_INPUT,
            },
            "optional": {"config": config_input()},
        }

    def load(self, ckpt_name: str, dtype: str, config: str = ""):
        parts = loading.wrap_components(loading.load_sd15_checkpoint(ckpt_name, dtype, "ckpt_name", config))
        return parts["model"], parts["vae"], parts["text_encoder"], parts["scheduler"]


# DVLoraLoader's expert choice -> the pipeline argument of the denoiser ("" for every one).
LORA_EXPERTS = {"all": "", "high-noise expert (transformer)": "transformer",
                "low-noise expert (transformer_2)": "transformer_2"}


class DVLoraLoader:
    DISPLAY_NAME = "DV Load LoRA"
    CATEGORY = CATEGORY
    DESCRIPTION = (
        "Adds a LoRA from models/loras to the model's DiT or UNet at a strength; chain several to stack them. "
        "The loaded model is not changed for other branches: the LoRA is on only while DVSampler runs this "
        "model. diffusers converts the usual community formats of each family."
    )
    FUNCTION = "load"
    RETURN_TYPES = ("DV_MODEL",)
    RETURN_NAMES = ("model",)
    OUTPUT_TOOLTIPS = ("The model with this LoRA listed, for DVSampler or another DVLoraLoader.",)

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "model": ("DV_MODEL", {"tooltip": "A model from a loader (or another DVLoraLoader)."}),
                "lora": (loading.list_loras(), {"tooltip": "A LoRA .safetensors in models/loras."}),
                "strength": ("FLOAT", {"default": 1.0, "min": -10.0, "max": 10.0, "step": 0.01,
                                       "tooltip": "How strongly the LoRA acts; 0 turns it off, negative inverts."}),
            },
            "optional": {
                "expert": (list(LORA_EXPERTS), {
                    "default": "all", "tooltip": "Two-expert models (Wan2.2 A14B): the denoiser the LoRA goes "
                    "into. Lightning-style LoRAs ship one file per expert; chain two loaders for separate "
                    "strengths. One-denoiser models take 'all' only."}),
            },
        }

    def load(self, model, lora: str, strength: float, expert: str = "all"):
        from ..errors import DVInputError, expect_type, finite_number
        from ..model_loaders import lora as lora_util
        from ..model_loaders.components import DVModel

        expect_type("model", model, DVModel, "a DV_MODEL")
        strength = finite_number("strength", strength, -10.0, 10.0,
                                 "a number from -10 to 10 (0 turns the LoRA off, negative inverts it).")
        if expert not in LORA_EXPERTS:
            raise DVInputError("expert", f"'{expert}'.", ", ".join(LORA_EXPERTS))
        path = loading.resolve_lora(lora, "lora")
        return (lora_util.with_lora(model, lora_util.read_lora("lora", model, path, strength,
                                                               LORA_EXPERTS[expert])),)


class DVMotionAdapter:
    """DV_MOTION_ADAPTER: a loaded diffusers MotionAdapter and where it came from."""

    def __init__(self, adapter, source: str) -> None:
        self.adapter = adapter
        self.source = source


NODES = [DVPipelineLoader, DVModelLoader, DVVAELoader, DVTextEncoderLoader, DVMotionAdapterLoader,
         DVApplyMotionAdapter, DVLoraLoader, DVCheckpointLoader]
