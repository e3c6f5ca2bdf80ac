"""VAE nodes: latents to frames, with temporal chunking and spatial tiling."""

from __future__ import annotations

from ..errors import DVInputError, expect_type, finite_number
from ..model_loaders.components import DVVAE

CATEGORY = "DiffusersVideo/vae"
TILING = ["auto", "off", "on"]  # a list: ComfyUI treats only lists as combos
MEMORY_MODES = ["as set", "auto"]


class DVVAEDecode:
    DISPLAY_NAME = "DV VAE Decode"
    CATEGORY = CATEGORY
    DESCRIPTION = (
        "Decodes video latents to frames with the family's own VAE, a chunk of latent frames at a time (the causal "
        "3D VAEs carry context across chunks) and optionally in overlapping spatial tiles, to fit in less memory."
    )
    FUNCTION = "decode"
    RETURN_TYPES = ("IMAGE",)
    RETURN_NAMES = ("images",)
    OUTPUT_TOOLTIPS = ("The video frames as an IMAGE batch [frames, height, width, 3].",)

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "vae": ("DV_VAE", {"tooltip": "From DVPipelineLoader or DVVAELoader; the same family as the latents."}),
                "samples": ("LATENT", {"tooltip": "From DVSampler."}),
                "decode_chunk_size": ("INT", {"default": 0, "min": 0, "max": 1024,
                                              "tooltip": "Latent frames decoded per chunk (CogVideoX: one latent "
                                              "frame is 4 video frames). Smaller uses less memory. 0 = auto: "
                                              "the VAE's own default (CogVideoX: 2)."}),
                "tiling": (TILING, {"default": "auto",
                                    "tooltip": "Decode in overlapping spatial tiles to save memory. auto: on for "
                                    "GPUs, off on CPU."}),
                "tile_sample_size": ("INT", {"default": 0, "min": 0, "max": 4096, "step": 8,
                                             "tooltip": "Tile size in pixels; 0 = the VAE's own default."}),
                "tile_overlap": ("FLOAT", {"default": 0.0, "min": 0.0, "max": 0.75, "step": 0.05,
                                           "tooltip": "Overlap between tiles as a fraction of a tile; 0 = the "
                                           "VAE's own default. More overlap hides seams and costs time."}),
            },
            "optional": {
                "memory": (MEMORY_MODES, {"default": "as set",
                                          "tooltip": "auto: choose the chunk size from free memory and, on "
                                          "out-of-memory, free and retry with smaller chunks, then tiles "
                                          "(the settings above are then ignored)."}),
            },
        }

    def decode(self, vae: DVVAE, samples: dict, decode_chunk_size: int, tiling: str, tile_sample_size: int,
               tile_overlap: float, memory: str = "as set"):
        from .. import host
        from ..memory.estimate import decode_bytes
        from ..samplers.decode import DecodeSettings

        expect_type("vae", vae, DVVAE, "a DV_VAE")
        tile_overlap = finite_number("tile_overlap", tile_overlap, 0.0, 0.75,
                                     "a fraction of a tile from 0 to 0.75 (0: the VAE's own).")
        if not isinstance(samples, dict) or "samples" not in samples:
            raise DVInputError("samples", "this is not a LATENT.", "the output of DVSampler.")
        family = samples.get("dv_family")
        if family is not None and family != vae.family.id:
            raise DVInputError("vae", f"the latents were made by a {family} model, but this is a "
                               f"{vae.family.label} VAE.", "the VAE from the same folder as the model.")
        if tiling not in TILING:
            raise DVInputError("tiling", f"'{tiling}'.", ", ".join(TILING))
        if memory not in MEMORY_MODES:
            raise DVInputError("memory", f"'{memory}'.", ", ".join(MEMORY_MODES))
        family_decode = vae.family.load_glue().decode

        def decode(settings):
            # The decode's working memory declared to the manager, which evicts the DiT (or what else) for it.
            g = vae.geometry
            need = decode_bytes(samples["samples"].shape, g.spatial, g.temporal, settings.chunk,
                                (settings.tile_sample_size or 256) if settings.tiling else 0)
            with host.working_memory([vae.managed], need):
                return family_decode(vae, samples, settings)

        if memory == "auto":
            from ..samplers import decode_auto

            return (decode_auto.decode(vae, samples, decode),)
        use_tiling = tiling == "on" or (tiling == "auto" and host.torch_device().type != "cpu")
        settings = DecodeSettings(decode_chunk_size, use_tiling, tile_sample_size, tile_overlap)
        try:
            return (decode(settings),)
        except Exception as error:  # noqa: BLE001 - out-of-memory saves the latent; the rest re-raise
            if not host.is_out_of_memory(error):
                raise
        # Past the except block, so the failed decode's activations (held by the traceback) can be freed.
        from ..samplers.decode_auto import describe
        from ..video_io.latent_file import rescue

        host.soft_empty_cache()
        raise DVInputError("samples", f"out of memory decoding ({describe(settings)}). "
                           f"{rescue(samples, host.output_directory())}",
                           "memory 'auto' (retries with smaller chunks, then tiles), a smaller decode_chunk_size, "
                           "or tiling 'on'.")


class DVAudioDecode:
    DISPLAY_NAME = "DV Audio Decode"
    CATEGORY = CATEGORY
    DESCRIPTION = (
        "Decodes the sound of an audio-video model's LATENT (LTX-2) with the model's own audio VAE and vocoder, as "
        "its pipeline does, to core ComfyUI AUDIO: wire it into DVVideoCombine's audio (or core's Save Audio)."
    )
    FUNCTION = "decode"
    RETURN_TYPES = ("AUDIO",)
    RETURN_NAMES = ("audio",)
    OUTPUT_TOOLTIPS = ("The sound as ComfyUI AUDIO (waveform [batch, channels, samples], sample_rate).",)

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "model": ("DV_MODEL", {"tooltip": "The model that sampled the LATENT (its audio VAE and vocoder "
                                       "decode the sound)."}),
                "samples": ("LATENT", {"tooltip": "From DVSampler with an audio-video model (LTX-2)."}),
            }
        }

    def decode(self, model, samples: dict):
        from ..families import by_id
        from ..model_loaders.components import DVModel

        expect_type("model", model, DVModel, "a DV_MODEL")
        if not isinstance(samples, dict) or "samples" not in samples:
            raise DVInputError("samples", "this is not a LATENT.", "the output of DVSampler.")
        sounding = "an audio-video model (LTX-2 makes sound)"
        decode_audio = getattr(model.family.load_glue(), "decode_audio", None)
        if decode_audio is None:
            raise DVInputError("model", f"{model.family.label} makes video only, so there is no sound to decode.",
                               f"{sounding}, or no DVAudioDecode (DVVideoCombine writes the video silent).")
        made_by = samples.get("dv_family")
        if made_by is not None and made_by != model.family.id:
            try:
                other = by_id(made_by)
            except KeyError:
                other = None
            label = other.label if other is not None else made_by
            silent = other is not None and getattr(other.load_glue(), "decode_audio", None) is None
            raise DVInputError("samples", f"the LATENT was made by a {label} model"
                               + (", which makes video only (no sound in it)" if silent else "")
                               + f", and the model is {model.family.label}.",
                               f"the LATENT of DVSampler run with this {model.family.label} model; sound needs "
                               f"{sounding}.")
        return (decode_audio(model, samples),)


NODES = [DVVAEDecode, DVAudioDecode]
