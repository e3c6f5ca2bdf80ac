"""Cosmos Predict 2 (NVIDIA): video-to-world. A T5 text encoder, a flow-matching DiT (CosmosTransformer3DModel,
2x2 patches, EDM-style preconditioning inside the pipeline) and the Wan2.1 VAE.

Cosmos2VideoToWorldPipeline continues a first frame (DVSampler's `image`) or the frames of a video (`video`): it
encodes them with the VAE, keeps their latent frames fixed while sampling the rest, and guides with
`cond + guidance_scale * (cond - uncond)`. Its decode goes through an 8-bit round trip, because the pipeline
hands the frames to the safety checker as uint8; the pack decodes the same way, so the frames match.

Cosmos Predict 2.5 (the variant PREDICT_25): Cosmos2_5_PredictBasePipeline, a Qwen2.5-VL (Cosmos-Reason1) text
encoder whose normalised hidden layers the DiT projects down, UniPC on flow sigmas, and text-, image- and
video-to-world in one pipeline (the video's last 1 or 5 frames are kept). Cosmos Transfer 2.5 is not run yet.

The guardrail. NVIDIA's Open Model License asks for the Cosmos Guardrail, and the pipeline refuses to run
without a safety checker (`cosmos_guardrail.CosmosSafetyChecker`, a separate package whose models download on
first use). It is a choice on DVCosmosOptions, never skipped silently: `guardrail` is the guardrail by default
(also when no options node is wired): the prompt is checked before sampling and the frames after decoding, and
a missing package or model stops the run before any work, naming both ways out. "off" runs without it and says
so in the log on every run. docs/cosmos.md explains the choice.
"""

from __future__ import annotations

import importlib
import logging
from typing import Any

from .. import host
from ..errors import DVInputError
from ..model_loaders.components import DVVAE, DVConditioning, DVModel, DVSchedulerSpec, DVTextEncoder
from ..samplers import decode as decode_util
from ..samplers.clip_text import encode_t5_with_pipeline
from ..samplers.pipeline import SampleInputs, SampleParams, assemble, denoisers_loaded, run_denoise
from ..samplers.validate import check_common, check_text_width, require_conditioning
from .spec import Family, FrameRule, LatentGeometry, OptionSpec, Variant

log = logging.getLogger("DiffusersVideo")

WAN_VAE = "AutoencoderKLWan"
LATENT_CHANNELS = 16
GUARDRAIL_ON = "cosmos_guardrail (required package)"
GUARDRAIL_OFF = "off: I take responsibility for the outputs"
GUARDRAIL_CHOICES = (GUARDRAIL_ON, GUARDRAIL_OFF)
OPTIONS_NODE = "DVCosmosOptions"
# The latent key that carries the choice from DVSampler to DVVAEDecode; a latent without it (saved and loaded by
# nodes that keep only "samples") is decoded with the guardrail, the default.
GUARDRAIL_KEY = "dv_cosmos_guardrail"
SCHEDULER_CLASS = "FlowMatchEulerDiscreteScheduler"
PREDICT_25 = "predict2.5"  # the task (pipeline) key and variant id of Cosmos Predict 2.5
VARIANT_KEY = "dv_cosmos_variant"  # the latent key that tells DVVAEDecode which pipeline's decode to follow


def _has_crossattn_projection(configs) -> bool:
    """Predict 2.5's DiT projects the concatenated Qwen2.5-VL hidden states down to its text width
    (diffusers' conversion script: use_crossattn_projection for every 2.5 release, never for 2.0)."""
    return bool(configs.get("denoiser", {}).get("use_crossattn_projection"))

FAMILY = Family(
    id="cosmos",
    label="Cosmos Predict 2",
    pipeline_classes={"v2w": "Cosmos2VideoToWorldPipeline", PREDICT_25: "Cosmos2_5_PredictBasePipeline"},
    model_classes=("CosmosTransformer3DModel",),
    vae_classes=(WAN_VAE,),
    text_encoder_classes=("T5EncoderModel", "Qwen2_5_VLForConditionalGeneration"),
    # The Wan VAE compresses time 4x: 4k+1 frames decode to as many frames (the pipeline rounds others down).
    frame_rule=FrameRule(multiple=4, offset=1),
    size_multiple=16,  # the Wan VAE's 8 x the DiT's 2x2 patches
    pipeline_size_multiple=16,  # check_inputs: "`height` and `width` have to be divisible by 16"
    geometry=LatentGeometry(spatial=8, temporal=4, channels=LATENT_CHANNELS, scaling_factor=1.0),
    order=48,
    comfy_latent_format="Wan21",  # Wan2.1 VAE latents, normalised by its latents mean/std (sigma_data 1)
    flow_matching=True,
    # The pipeline's __call__ defaults: 1280x704, 93 frames, 35 steps, guidance 7, fps 16 (the guide exports at 16).
    defaults={"num_frames": 93, "fps": 16, "steps": 35, "guidance_scale": 7.0, "width": 1280, "height": 704,
              "max_sequence_length": 512},
    options=(
        OptionSpec("guardrail", GUARDRAIL_CHOICES, GUARDRAIL_ON,
                   "NVIDIA's Cosmos Guardrail checks the prompt before sampling and the frames after decoding "
                   "(it blurs faces); it needs the cosmos_guardrail package and downloads its models on first "
                   "use. 'off' runs without any check: you take responsibility for the outputs, as the NVIDIA "
                   "Open Model License asks. docs/cosmos.md."),
        OptionSpec("fps", "INT", 16, "Predict 2 only: the frame rate the model is told (its rotary embeddings "
                   "scale time by it); the released Predict 2 models are trained at 16.", 1, 120, 1),
        OptionSpec("num_latent_conditional_frames", "INT", 2, "Predict 2.5 with a video only: latent frames "
                   "taken from the end of the video (1: its last frame, 2: its last 5 frames).", 1, 2, 1),
    ),
    options_node=OPTIONS_NODE,
    # diffusers' Cosmos guide and the pipeline's example load every component in one dtype
    # (`from_pretrained(model_id, torch_dtype=torch.bfloat16)`), so no role gets one of its own.
    component_dtypes={},
    notes="Video-to-world: continues a first frame (image) or a video's frames (fewer than num_frames). The "
    "Cosmos Guardrail is on unless DVCosmosOptions turns it off (docs/cosmos.md).",
    variants=(
        # Predict 2.5: a Qwen2.5-VL (Cosmos-Reason1) text encoder, UniPC on flow sigmas, and text-, image- and
        # video-to-world in one pipeline. The pipeline's defaults: 36 steps, guidance 7, 93 frames at 1280x704.
        Variant(PREDICT_25, _has_crossattn_projection, {
            "label": "Cosmos Predict 2.5",
            "defaults": {"num_frames": 93, "fps": 16, "steps": 36, "guidance_scale": 7.0, "width": 1280,
                         "height": 704, "max_sequence_length": 512}}),
    ),
)

# The scheduler diffusers' conversion script saves for Cosmos 2 (scripts/convert_cosmos_to_diffusers.py:
# FlowMatch Euler on Karras sigmas); the pipeline sets its sigma range (0.002..80) on whatever it is given.
DEFAULT_SCHEDULER = DVSchedulerSpec.from_config_dict(
    SCHEDULER_CLASS, {"num_train_timesteps": 1000, "use_karras_sigmas": True}, "Cosmos Predict 2 default")


class _UncheckedSafetyChecker:
    """What the pipeline object holds while the pack drives it: the pipeline refuses to exist without a safety
    checker, but with embeddings given and latents out it never calls one. The guardrail itself runs where the
    pipeline would run it (check_prompt before sampling, the frames in decode), or not at all when it is off."""

    def to(self, *args: Any, **kwargs: Any) -> _UncheckedSafetyChecker:
        return self

    def check_text_safety(self, prompt: str) -> bool:
        return True

    def check_video_safety(self, frames: Any) -> Any:
        return frames


def _pipeline_class(kind: str = "v2w"):
    import diffusers

    return getattr(diffusers, FAMILY.pipeline_classes[kind])


def _pipeline(kind: str = "v2w", **components: Any):
    if kind == PREDICT_25 and components.get("vae") is None:
        components["vae"] = _StandInVAE()
    return assemble(_pipeline_class(kind), safety_checker=_UncheckedSafetyChecker(), **components)


class _StandInVAE:
    """What Cosmos2_5_PredictBasePipeline.__init__ reads of its VAE (the latents statistics, the temporal
    downsampling, its dtype) when a step needs none: prompt encoding, and text-to-world sampling, whose latent
    output never touches the VAE."""

    def __init__(self, dtype: Any = None) -> None:
        import types

        import torch

        self.config = types.SimpleNamespace(z_dim=LATENT_CHANNELS, latents_mean=[0.0] * LATENT_CHANNELS,
                                            latents_std=[1.0] * LATENT_CHANNELS)
        self.temperal_downsample = [False, True, True]
        self.dtype = dtype or torch.float32


def model_kind(model: DVModel) -> str:
    """"v2w" (Cosmos2VideoToWorldPipeline) or PREDICT_25: the folder's pipeline class where the model came from
    one, else the transformer's config (only 2.5 projects its text embeddings)."""
    from .cogvideox import _folder_pipeline_class

    folder_class = _folder_pipeline_class(model)
    for kind, class_name in FAMILY.pipeline_classes.items():
        if folder_class == class_name:
            return kind
    return PREDICT_25 if model.module.config.use_crossattn_projection else "v2w"


# ------------------------------------------------------------------------------------------------- guardrail


def guardrail_on(choice: Any) -> bool:
    if choice not in GUARDRAIL_CHOICES:
        raise DVInputError("guardrail", f"'{choice}' is not a choice.", " or ".join(f"'{c}'" for c in
                                                                                  GUARDRAIL_CHOICES) + ".",
                           node=OPTIONS_NODE)
    return choice == GUARDRAIL_ON


def _guardrail_error(problem: str) -> DVInputError:
    # Named on the options node, where the choice is made (its default applies when none is wired).
    return DVInputError(
        "guardrail", f"'{GUARDRAIL_ON}' (the default) runs NVIDIA's Cosmos Guardrail, and {problem}",
        "install the guardrail (pip install cosmos_guardrail; its models download from the Hugging Face Hub on "
        f"first use, or come from its cache), or choose guardrail '{GUARDRAIL_OFF}' on a {OPTIONS_NODE} node "
        "wired into DVSampler's options, taking responsibility for unchecked outputs.", node=OPTIONS_NODE)


_CHECKERS: dict[Any, Any] = {}  # cosmos_guardrail module -> its CosmosSafetyChecker, built once per process


def safety_checker() -> Any:
    """The Cosmos Guardrail's CosmosSafetyChecker, built once (its models are large); a DVInputError naming the
    guardrail choice and both ways out when the package or its models are missing."""
    try:
        module = importlib.import_module("cosmos_guardrail")
    except ImportError as error:
        raise _guardrail_error(f"the cosmos_guardrail package is not installed ({error}).") from None
    if module not in _CHECKERS:
        try:
            _CHECKERS[module] = module.CosmosSafetyChecker()
        except Exception as error:  # noqa: BLE001 - offline hub, missing weights, ...: all mean "not available"
            raise _guardrail_error(f"cosmos_guardrail could not load its models ({type(error).__name__}: "
                                   f"{str(error).splitlines()[0] if str(error) else ''}).") from None
    return _CHECKERS[module]


def _on_device(checker: Any, device: Any):
    """As the pipeline does: the checker on the compute device while it runs, then back on the CPU."""
    import contextlib

    @contextlib.contextmanager
    def moved():
        checker.to(device)
        try:
            yield checker
        finally:
            checker.to("cpu")

    return moved()


def check_prompt(prompt: str, device: Any) -> None:
    """The pipeline's text check (it checks the prompt, not the negative prompt) with the guardrail."""
    with _on_device(safety_checker(), device) as checker:
        safe = checker.check_text_safety(prompt)
    if not safe:
        raise DVInputError("conditioning", "the Cosmos Guardrail found unsafe text in the prompt given to "
                           "DVTextEncode.", "a prompt that abides by the NVIDIA Open Model License Agreement.")


# ------------------------------------------------------------------------------------------------- encode


def encode(te: DVTextEncoder, prompt: str, negative_prompt: str, max_sequence_length: int,
           truncate: bool) -> DVConditioning:
    """The pipeline's own encode_prompt. Predict 2: T5 at max_sequence_length tokens, the padding positions
    zeroed. Predict 2.5: the Qwen2.5-VL's chat template (its system prompt, then the text) padded to
    max_sequence_length, every hidden layer normalised and concatenated. An empty negative prompt is encoded as
    empty (the pipelines' DEFAULT_NEGATIVE_PROMPT applies only to None)."""
    if getattr(te.module.config, "model_type", "") != "qwen2_5_vl":
        return encode_t5_with_pipeline(FAMILY, _pipeline, te, prompt, negative_prompt, max_sequence_length,
                                       truncate, ("prompt_embeds", "negative_prompt_embeds"))
    if te.tokenizer is None:
        raise DVInputError("text_encoder", "this text encoder came without its tokenizer.",
                           "load it from a diffusers folder that has a tokenizer subfolder.")
    notes = _check_chat_length(te.tokenizer, {"prompt": prompt, "negative_prompt": negative_prompt},
                               max_sequence_length, truncate)
    host.load_to_device([te.managed])
    pipe = _pipeline(PREDICT_25, tokenizer=te.tokenizer, text_encoder=te.module)
    outputs = pipe.encode_prompt(prompt, negative_prompt, do_classifier_free_guidance=True,
                                 max_sequence_length=max_sequence_length, device=te.managed.device)
    return DVConditioning(FAMILY, prompt, negative_prompt,
                          dict(zip(("prompt_embeds", "negative_prompt_embeds"), outputs, strict=True)), notes)


def _chat(text: str) -> list[dict[str, Any]]:
    """The conversation Cosmos2_5_PredictBasePipeline._get_prompt_embeds wraps every prompt in."""
    return [{"role": "system", "content": [{"type": "text", "text": "You are a helpful assistant who will provide "
                                            "prompts to an image generator."}]},
            {"role": "user", "content": [{"type": "text", "text": text}]}]


def _check_chat_length(tokenizer, texts: dict[str, str], limit: int, truncate: bool) -> list[str]:
    """State (or refuse) prompts whose chat-templated tokens the pipeline cuts at max_sequence_length."""
    notes = []
    for input_name, text in texts.items():
        ids = tokenizer.apply_chat_template(_chat(text), tokenize=True, add_generation_prompt=False,
                                            add_vision_id=False)
        ids = ids["input_ids"] if not isinstance(ids, list) and "input_ids" in ids else ids
        if len(ids) > limit:
            if not truncate:
                raise DVInputError(input_name, f"{len(ids)} tokens with the chat template, over the text "
                                   f"encoder's {limit}.", f"at most {limit} tokens, or turn truncate_long_prompt on.")
            message = f"DVTextEncode: input '{input_name}': {len(ids)} tokens, over {limit}; the end is cut off."
            log.warning(message)
            notes.append(message)
    return notes


# ------------------------------------------------------------------------------------------------- sample


def _check_model(model: DVModel) -> None:
    config = model.module.config
    if int(config.in_channels) != LATENT_CHANNELS + 1:
        raise DVInputError("model", f"'{model.source}' takes {config.in_channels} input channels: a Cosmos "
                           "text-to-image or Cosmos 1.0 transformer, which Cosmos2VideoToWorldPipeline cannot run.",
                           f"a Cosmos Predict 2 Video2World transformer ({LATENT_CHANNELS}+1 input channels), such "
                           "as nvidia/Cosmos-Predict2-2B-Video2World.")
    if config.concat_padding_mask:
        import importlib.util

        if importlib.util.find_spec("torchvision") is None:
            raise DVInputError("model", "this Cosmos transformer concatenates a padding mask, which diffusers "
                               "resizes with torchvision, and torchvision is not installed.",
                               "install the torchvision that matches your torch (ComfyUI's requirements have it).")


def _check_vae(vae: DVVAE | None, input_name: str = "vae") -> None:
    if vae is None:
        return
    if vae.family.id != FAMILY.id:
        raise DVInputError(input_name, f"this is a {vae.family.label} VAE, and the model is {FAMILY.label}.",
                           f"the VAE from the same {FAMILY.label} folder.")
    if type(vae.module).__name__ != WAN_VAE or int(vae.module.config.z_dim) != LATENT_CHANNELS:
        raise DVInputError(input_name, f"this {FAMILY.label} VAE is a {type(vae.module).__name__}; Cosmos "
                           f"Predict 2 decodes with the Wan2.1 VAE ({WAN_VAE}, {LATENT_CHANNELS} channels).",
                           f"the vae of a {FAMILY.label} folder.")


def _check_size_fits(model: DVModel, params: SampleParams) -> None:
    """The rotary (and, where present, learnable) position embeddings are built up to the transformer's max_size
    (latent frames, height, width); a larger video fails inside the transformer with a shape error."""
    config = model.module.config
    patch = [int(p) for p in config.patch_size]
    limits = [int(m) // p for m, p in zip(config.max_size, patch, strict=True)]
    if config.extra_pos_embed_type != "learnable":
        limits = [max(limits)] * 3  # the rotary embedding alone only needs the largest
    g = model.geometry
    sizes = {"num_frames": (params.num_frames - 1) // g.temporal + 1, "height": params.height // g.spatial,
             "width": params.width // g.spatial}
    for (name, size), patch_size, limit in zip(sizes.items(), patch, limits, strict=True):
        if size // patch_size > limit:
            unit = g.temporal if name == "num_frames" else g.spatial * patch_size
            most = (limit - 1) * unit + 1 if name == "num_frames" else limit * unit
            raise DVInputError(name, f"{params.num_frames if name == 'num_frames' else getattr(params, name)} is "
                               f"beyond this transformer's max_size {tuple(config.max_size)}.", f"at most {most}.")


def _check_inputs(model: DVModel, scheduler: DVSchedulerSpec, params: SampleParams, inputs: SampleInputs,
                  kind: str) -> DVConditioning:
    _check_model(model)
    cond = require_conditioning(model, inputs)
    check_common(model, cond, params, model.geometry.spatial * int(model.module.config.patch_size[1]))
    _check_size_fits(model, params)
    if inputs.image is not None and inputs.video is not None:
        raise DVInputError("video", "both 'image' and 'video' are wired; the pipeline would use the image and "
                           "ignore the video.", "one of them: disconnect 'image' or 'video'.")
    if kind == PREDICT_25:
        _check_predict25_inputs(inputs)
    else:
        _check_predict2_inputs(params, inputs)
    if (inputs.image is not None or inputs.video is not None) and inputs.vae is None:
        raise DVInputError("vae", f"{model.family.label} encodes the image or video with its VAE, and none is wired "
                           "in.", "the VAE from the same folder.")
    _check_vae(inputs.vae)
    config = model.module.config
    expected = int(config.crossattn_proj_in_channels if config.use_crossattn_projection else config.text_embed_dim)
    encoder = "Qwen2.5-VL (Cosmos-Reason1)" if kind == PREDICT_25 else "T5"
    check_text_width(model, cond, expected, f"{encoder} text encoder")
    if kind != PREDICT_25 and scheduler.class_name != SCHEDULER_CLASS:
        raise DVInputError("scheduler", f"Cosmos2VideoToWorldPipeline steps {SCHEDULER_CLASS}'s sigmas with its "
                           f"own preconditioning; {scheduler.class_name} does not fit it.",
                           "'FlowMatch Euler' on DVScheduler, or 'from model'.")
    return cond


def _check_predict2_inputs(params: SampleParams, inputs: SampleInputs) -> None:
    if inputs.image is None and inputs.video is None:
        raise DVInputError("image", f"{FAMILY.label} video-to-world continues a first frame or a video, and "
                           "neither is wired in.", "an IMAGE into 'image' (the first frame) or frames into "
                           "'video'.")
    if inputs.video is not None and int(inputs.video.shape[0]) >= params.num_frames:
        raise DVInputError("video", f"{int(inputs.video.shape[0])} frames for a {params.num_frames}-frame video: "
                           "every frame would be given and nothing generated.",
                           f"fewer than {params.num_frames} frames (the released models continue 1 or 5), e.g. "
                           "with DVLoadVideo's frame_load_cap.")


def _check_predict25_inputs(inputs: SampleInputs) -> None:
    if inputs.image is not None:
        import importlib.util

        if importlib.util.find_spec("torchvision") is None:
            raise DVInputError("image", "Cosmos Predict 2.5 turns the image into a tensor with torchvision, which "
                               "is not installed.", "install the torchvision that matches your torch (ComfyUI's "
                               "requirements have it), or give the image as a one-frame 'video'.")
    latent_frames = inputs.option("num_latent_conditional_frames", 2)
    if latent_frames not in (1, 2):
        raise DVInputError("num_latent_conditional_frames", f"{latent_frames}.", "1 or 2.", node=OPTIONS_NODE)
    needed = 4 * (int(latent_frames) - 1) + 1
    if inputs.video is not None and int(inputs.video.shape[0]) < needed:
        raise DVInputError("video", f"{int(inputs.video.shape[0])} frames; with num_latent_conditional_frames "
                           f"{latent_frames} Predict 2.5 continues the last {needed}.",
                           f"at least {needed} frames, or num_latent_conditional_frames 1 on {OPTIONS_NODE}.")


def sample(model: DVModel, scheduler: DVSchedulerSpec, params: SampleParams,
           inputs: SampleInputs) -> dict[str, Any]:
    kind = model_kind(model)
    cond = _check_inputs(model, scheduler, params, inputs, kind)
    checked = guardrail_on(inputs.option("guardrail", GUARDRAIL_ON))
    dtype, device = model.managed.dtype, model.managed.device
    if checked:
        check_prompt(cond.prompt, device)  # also loads the checker now, so a missing one stops before any work
    else:
        log.warning("DiffusersVideo: %s guardrail is off: this run's prompt and frames are not checked by the "
                    "Cosmos Guardrail; you took responsibility for the outputs.", OPTIONS_NODE)
    from ..samplers.image_input import pipeline_frames, pipeline_image

    call_kwargs: dict[str, Any] = {key: value.to(device=device, dtype=dtype) for key, value in cond.embeds.items()}
    call_kwargs.update(height=params.height, width=params.width, num_frames=params.num_frames,
                       num_inference_steps=params.num_inference_steps, guidance_scale=params.guidance_scale)
    if kind == PREDICT_25:
        call_kwargs["num_latent_conditional_frames"] = int(inputs.option("num_latent_conditional_frames", 2))
    else:
        call_kwargs["fps"] = int(inputs.option("fps", 16))
    if inputs.image is not None:
        call_kwargs["image"] = pipeline_image("image", inputs.image, params.height, params.width, inputs.options)
    elif inputs.video is not None:
        call_kwargs["video"] = pipeline_frames("video", inputs.video, params.height, params.width, inputs.options)
    vae = inputs.vae.module if inputs.vae is not None else None
    pipe = _pipeline(kind, transformer=model.module, vae=vae, scheduler=scheduler.create())
    others = [inputs.vae.managed] if inputs.vae is not None else []
    with denoisers_loaded(model, *others):
        latents = run_denoise(pipe, call_kwargs, params, model.family.comfy_latent_format, lambda x: x)
    return {"samples": latents.to(host.intermediate_device()), "dv_family": FAMILY.id,
            "dv_num_frames": params.num_frames, GUARDRAIL_KEY: checked, VARIANT_KEY: kind}


# ------------------------------------------------------------------------------------------------- decode


def decode(vae: DVVAE, latent: dict[str, Any], settings: decode_util.DecodeSettings):
    """As the pipeline that sampled the latent decodes. Predict 2: latents * std / sigma_data + mean, the Wan VAE,
    then the frames as uint8 through the safety checker (the guardrail, or none when it was turned off) and back.
    Predict 2.5: latents / (1 / std) + mean, the Wan VAE, and the uint8 round trip only through the guardrail
    (the pipeline skips it for a checker that is not cosmos_guardrail's)."""
    import numpy as np
    import torch
    from diffusers.video_processor import VideoProcessor

    _check_vae(vae)
    guarded = latent.get(GUARDRAIL_KEY, True)
    predict25 = latent.get(VARIANT_KEY) == PREDICT_25
    checker = safety_checker() if guarded else _UncheckedSafetyChecker()
    module = vae.module
    config = module.config
    samples = latent["samples"]
    decode_util.check_latent(vae, samples, int(config.z_dim))
    host.load_to_device([vae.managed])
    latents = samples.to(device=vae.managed.device, dtype=vae.managed.dtype)
    mean = torch.tensor(config.latents_mean).view(1, config.z_dim, 1, 1, 1).to(latents.device, latents.dtype)
    std = torch.tensor(config.latents_std).view(1, config.z_dim, 1, 1, 1).float()
    if predict25:
        latents = latents / (1.0 / std).to(latents.device, latents.dtype) + mean
    else:
        sigma_data = 1.0  # the pipeline's (set in its __init__)
        latents = latents * std.to(latents.device, latents.dtype) / sigma_data + mean
    spatial = vae.geometry.spatial
    with decode_util.temporary_attributes(module, **decode_util.strided_tiling(settings, spatial)):
        calls = latents.shape[2] * decode_util.strided_tile_count(module, latents, spatial)
        with decode_util.progress_per_call(module.decoder, calls):
            video = module.decode(latents, return_dict=False)[0]
    processor = VideoProcessor(vae_scale_factor=spatial)
    if predict25 and not guarded:
        return decode_util.to_image(processor, video)
    frames = (processor.postprocess_video(video, output_type="np") * 255).astype(np.uint8)
    with _on_device(checker, vae.managed.device):
        checked = [checker.check_video_safety(clip) for clip in frames]
    if any(clip is None for clip in checked):
        raise DVInputError("samples", "the Cosmos Guardrail blocked this video (its reason is in the log).",
                           "a prompt and input that abide by the NVIDIA Open Model License Agreement.")
    video = torch.from_numpy(np.stack(checked).astype(np.float32) / 255.0 * 2 - 1).permute(0, 4, 1, 2, 3)
    return decode_util.to_image(processor, video)
