"""LTX-Video 0.9.5+ nodes: keyframes and clips at frame indices (LTXConditionPipeline), and the two-stage recipe
(sample small, upscale the latent with LTXLatentUpsamplePipeline, refine it with DVSampler).

Keyframes chain as options do: each DVLTXCondition adds one condition to the DV_SAMPLER_OPTIONS wired into it,
so any number of them lead into DVLTXOptions (or straight into DVSampler) through the `options` sockets every
options node already has, and the same chain feeds both stages of a two-stage graph.
"""

from __future__ import annotations

from typing import Any

from ..errors import DVInputError, expect_type
from ..families import ltx, ltx2
from ..model_loaders.components import DVVAE, DVSamplerOptions
from ..samplers.image_input import check_frames
from .loaders import DTYPE_INPUT

CATEGORY = "DiffusersVideo/ltx"
OPTIONS_INPUT = ("DV_SAMPLER_OPTIONS", {"tooltip": "Options (DVLTXOptions, DVLTX2Options, DVLTXCondition, ...) to "
                                        "add these to."})
# The conditions and refining serve LTX-Video 0.9.5+ (LTXConditionPipeline) and LTX-2 (LTX2ConditionPipeline).
FAMILY_IDS = (ltx.FAMILY.id, ltx2.FAMILY.id)
LABELS = {ltx.FAMILY.id: ltx.FAMILY.label, ltx2.FAMILY.id: ltx2.FAMILY.label}


def _earlier(options: DVSamplerOptions | None) -> dict[str, Any]:
    if options is None:
        return {}
    expect_type("options", options, DVSamplerOptions, "DV_SAMPLER_OPTIONS")
    if not set(FAMILY_IDS) & set(options.family_ids):
        raise DVInputError("options", f"these options ({options.source}) are not for {ltx.FAMILY.label} or "
                           f"{ltx2.FAMILY.label}.", "DVLTXOptions or DVLTX2Options, another DVLTXCondition or "
                           "DVImageInputOptions, or nothing.")
    return dict(options.values)


def _ltx_latent(samples: Any, input_name: str = "samples") -> None:
    import torch

    if not isinstance(samples, dict) or not isinstance(samples.get("samples"), torch.Tensor) or \
            samples["samples"].ndim != 5:
        raise DVInputError(input_name, "expected a video LATENT with samples [B, C, F, H, W].",
                           "the LATENT of DVSampler with an LTX-Video or LTX-2 model (or DVLTXUpsampleLatent's).")
    family = samples.get("dv_family")
    if family is not None and family not in FAMILY_IDS:
        raise DVInputError(input_name, f"this latent was sampled by a {family} model.",
                           "a latent of DVSampler with an LTX-Video or LTX-2 model.")
    if not torch.isfinite(samples["samples"]).all():
        raise DVInputError(input_name, "the latent has NaN or infinite values.", "a latent sampled without overflow.")


class DVLTXCondition:
    DISPLAY_NAME = "DV LTX Condition (keyframe / clip)"
    CATEGORY = CATEGORY
    DESCRIPTION = (
        "Puts an image (a keyframe) or a clip at a frame of the LTX-Video video, with a strength: diffusers' "
        "LTXVideoCondition for LTXConditionPipeline (trained from LTX-Video 0.9.5). Chain several (first frame, "
        "middle, last frame, ...) through their options sockets, then into DVLTXOptions or DVSampler; the VAE "
        "must be wired into DVSampler. Images are fitted to the video's size as DVSampler's image is. With an "
        "LTX-2 model (chain into DVLTX2Options) it runs LTX2ConditionPipeline: a condition goes to the 8-frame "
        "latent frame holding frame_index, and the pipeline fits any size by scaling and centre-cropping."
    )
    FUNCTION = "build"
    RETURN_TYPES = ("DV_SAMPLER_OPTIONS",)
    RETURN_NAMES = ("options",)
    OUTPUT_TOOLTIPS = ("The conditions so far, for another DVLTXCondition, DVLTXOptions or DVSampler.",)

    @classmethod
    def INPUT_TYPES(cls):  # noqa: N802 - ComfyUI's name
        return {
            "required": {
                "frame_index": ("INT", {"default": 0, "min": 0, "max": 1024, "tooltip": "The frame (from 0) the "
                                        "image or the clip's first frame is put at; the last frame is "
                                        "num_frames - 1."}),
                "strength": ("FLOAT", {"default": 1.0, "min": 0.0, "max": 1.0, "step": 0.01,
                                       "tooltip": "1 holds the video to the condition; lower lets it drift."}),
                "image_cond_noise_scale": ("FLOAT", {
                    "default": ltx.IMAGE_COND_NOISE_DEFAULT, "min": 0.0, "max": 1.0, "step": 0.005,
                    "tooltip": "Noise added to the fully held conditions each step, for smoother motion (the "
                    "diffusers guide: 0.025 for 0.9.1+, 0 in its two-stage example). One value for the run: "
                    "chained conditions must agree. LTX-Video only: LTX-2's pipeline has none (leave the default)."}),
            },
            "optional": {
                "image": ("IMAGE", {"tooltip": "A keyframe (one image)."}),
                "video": ("IMAGE", {"tooltip": "A clip (8k+1 frames are used: 1, 9, 17, ...); after frame 0 "
                                    "it needs at least 9 frames inside the video."}),
                "options": OPTIONS_INPUT,
            },
        }

    def build(self, frame_index: int, strength: float, image_cond_noise_scale: float, image=None, video=None,
              options: DVSamplerOptions | None = None):
        if (image is None) == (video is None):
            raise DVInputError("image", "a condition is one image or one clip: "
                               + ("neither is wired in." if image is None else "both are wired in."),
                               "an IMAGE into 'image' (a keyframe) or into 'video' (a clip), not both.")
        if image is not None:
            check_frames("image", image)
            if int(image.shape[0]) != 1:
                raise DVInputError("image", f"got {int(image.shape[0])} frames; a keyframe is one image.",
                                   "one image (core's ImageFromBatch picks one), or the frames into 'video'.")
        else:
            check_frames("video", video)
        earlier = _earlier(options)
        before = tuple(earlier.get(ltx.CONDITIONS, ()))
        if before and float(earlier.get(ltx.IMAGE_COND_NOISE, image_cond_noise_scale)) != image_cond_noise_scale:
            raise DVInputError("image_cond_noise_scale", f"the conditions chained before this one use "
                               f"{earlier[ltx.IMAGE_COND_NOISE]}, and it is one value for the whole run.",
                               f"{earlier[ltx.IMAGE_COND_NOISE]} here too.")
        keyframe = ltx.LTXKeyframe(image, video, int(frame_index), float(strength), len(before) + 1)
        values = {ltx.CONDITIONS: (*before, keyframe), ltx.IMAGE_COND_NOISE: float(image_cond_noise_scale)}
        made = DVSamplerOptions(FAMILY_IDS, tuple(values.items()), "DVLTXCondition")
        return (made.merged_with(options),)


class DVLTXRefineLatent:
    DISPLAY_NAME = "DV LTX Refine Latent"
    CATEGORY = CATEGORY
    DESCRIPTION = (
        "The second stage of LTX-Video's two-stage recipe: DVSampler starts from this latent (usually "
        "DVLTXUpsampleLatent's) with noise for denoise_strength of its steps, through LTXConditionPipeline. "
        "DVSampler's width, height and num_frames must be the latent's (twice the first stage's size after "
        "the 2x upscaler). Wire into DVSampler's options (with DVLTXOptions and conditions chained in). With an "
        "LTX-2 model the latent's sound is refined with it, as the LTX-2 guide's stage 2: renoised to the first "
        "stage-2 sigma and denoised along them (typed sigmas, or the last denoise_strength share of DVSampler's "
        "schedule) through LTX2Pipeline, or LTX2ConditionPipeline with conditions chained in."
    )
    FUNCTION = "build"
    RETURN_TYPES = ("DV_SAMPLER_OPTIONS",)
    RETURN_NAMES = ("options",)
    OUTPUT_TOOLTIPS = ("Options that make DVSampler refine the latent.",)

    @classmethod
    def INPUT_TYPES(cls):  # noqa: N802 - ComfyUI's name
        return {
            "required": {
                "samples": ("LATENT", {"tooltip": "The latent to refine: DVLTXUpsampleLatent's, or DVSampler's."}),
                "denoise_strength": ("FLOAT", {
                    "default": 0.4, "min": 0.0, "max": 1.0, "step": 0.01,
                    "tooltip": "Share of DVSampler's steps that run (the guide: 0.4 of 10 steps); more changes "
                    "more."}),
            },
            "optional": {
                "options": OPTIONS_INPUT,
                "sigmas": ("STRING", {"default": "", "tooltip": "LTX-2: the stage-2 noise levels, used as they are "
                                      "(the diffusers guide's 0.909375, 0.725, 0.421875 with the distilled LoRA; "
                                      "DVSampler's num_inference_steps must count them). Empty: the last "
                                      "denoise_strength share of DVSampler's schedule. LTX-Video: leave empty."}),
            },
        }

    def build(self, samples: dict, denoise_strength: float, options: DVSamplerOptions | None = None,
              sigmas: str = ""):
        _ltx_latent(samples)
        _earlier(options)
        values = [(ltx.REFINE_LATENT, samples), (ltx.DENOISE_STRENGTH, float(denoise_strength))]
        if str(sigmas).strip():
            values.append((ltx.REFINE_SIGMAS, ltx2.parse_sigmas(sigmas)))
        return (DVSamplerOptions(FAMILY_IDS, tuple(values), "DVLTXRefineLatent").merged_with(options),)


class DVLTXLatentUpsamplerLoader:
    DISPLAY_NAME = "DV Load LTX Latent Upscaler"
    CATEGORY = CATEGORY
    DESCRIPTION = (
        "Loads LTX-Video's spatial latent upscaler (0.9.7/0.9.8, 2x width and height): "
        "ltxv-spatial-upscaler-*.safetensors from models/latent_upscale_models or models/upscale_models (where "
        "ComfyUI's LTX nodes keep it), or the diffusers folder Lightricks/ltxv-spatial-upscaler-0.9.7 in "
        "models/diffusers. LTX-2's upscaler: ltx-2-spatial-upscaler-*.safetensors in the same folders, or an "
        "LTX-2 diffusers folder (its latent_upsampler subfolder)."
    )
    FUNCTION = "load"
    RETURN_TYPES = ("DV_LTX_LATENT_UPSAMPLER",)
    RETURN_NAMES = ("latent_upsampler",)
    OUTPUT_TOOLTIPS = ("The upscaler, for DVLTXUpsampleLatent.",)

    @classmethod
    def INPUT_TYPES(cls):  # noqa: N802 - ComfyUI's name
        return {
            "required": {
                "latent_upsampler": (ltx.list_latent_upsamplers(), {
                    "tooltip": "folder kind/name: a .safetensors upscaler or a diffusers folder."}),
                "dtype": DTYPE_INPUT,
            }
        }

    def load(self, latent_upsampler: str, dtype: str):
        return (ltx.load_latent_upsampler(latent_upsampler, dtype),)


class DVLTXUpsampleLatent:
    DISPLAY_NAME = "DV LTX Upsample Latent"
    CATEGORY = CATEGORY
    DESCRIPTION = (
        "Upscales an LTX-Video latent with the latent upscaler (LTXLatentUpsamplePipeline, output_type latent), "
        "without decoding: the middle of the two-stage recipe. Then DVLTXRefineLatent -> DVSampler at the new "
        "size refines it, or DVVAEDecode decodes it as it is. An LTX-2 latent goes through LTX-2's upscaler "
        "(LTX2LatentUpsamplePipeline); its sound latents pass on unchanged, as in the diffusers guide."
    )
    FUNCTION = "upsample"
    RETURN_TYPES = ("LATENT",)
    RETURN_NAMES = ("samples",)
    OUTPUT_TOOLTIPS = ("The upscaled latent (2x width and height for the spatial upscaler).",)

    @classmethod
    def INPUT_TYPES(cls):  # noqa: N802 - ComfyUI's name
        return {
            "required": {
                "samples": ("LATENT", {"tooltip": "From DVSampler with an LTX-Video or LTX-2 model."}),
                "latent_upsampler": ("DV_LTX_LATENT_UPSAMPLER", {"tooltip": "From DVLTXLatentUpsamplerLoader."}),
                "vae": ("DV_VAE", {"tooltip": "The model's VAE: its latent statistics frame the upscale."}),
                "adain_factor": ("FLOAT", {"default": 0.0, "min": 0.0, "max": 1.0, "step": 0.05,
                                           "tooltip": "Match the upscaled latent's statistics to the input's (the "
                                           "guide: 1.0 for the distilled models); 0 off."}),
                "tone_map_compression_ratio": ("FLOAT", {"default": 0.0, "min": 0.0, "max": 1.0, "step": 0.05,
                                                         "tooltip": "Compress the latent's range (the guide: 0.6 "
                                                         "for 0.9.8); 0 off."}),
            }
        }

    def upsample(self, samples: dict, latent_upsampler, vae: DVVAE, adain_factor: float,
                 tone_map_compression_ratio: float):
        _ltx_latent(samples)
        expect_type("latent_upsampler", latent_upsampler, ltx.DVLTXLatentUpsampler, "a DV_LTX_LATENT_UPSAMPLER")
        expect_type("vae", vae, DVVAE, "a DV_VAE")
        family = samples.get("dv_family") or ltx.FAMILY.id
        label = LABELS[family]
        if latent_upsampler.family_id != family:
            raise DVInputError("latent_upsampler", f"this is an {LABELS[latent_upsampler.family_id]} latent upscaler, "
                               f"and the latent was sampled by an {label} model.",
                               f"the {label} latent upscaler ("
                               + ("the latent_upsampler of the LTX-2 folder or ltx-2-spatial-upscaler-*.safetensors)"
                                  if family == ltx2.FAMILY.id else "ltxv-spatial-upscaler-*.safetensors)"))
        if vae.family.id != family:
            raise DVInputError("vae", f"this is a {vae.family.label} VAE.", f"the {label} VAE of the model.")
        module = ltx2 if family == ltx2.FAMILY.id else ltx
        return (module.upsample_latent(latent_upsampler, vae, samples, adain_factor, tone_map_compression_ratio),)


NODES = [DVLTXCondition, DVLTXRefineLatent, DVLTXLatentUpsamplerLoader, DVLTXUpsampleLatent]
