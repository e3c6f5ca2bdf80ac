"""HunyuanVideo (Tencent): text-to-video with a Llama and a CLIP text encoder, a flow-matching DiT with
embedded (distilled) guidance, and a causal 3D VAE.

HunyuanVideo glue: HunyuanVideoPipeline for prompts (Llama + CLIP) and sampling, its causal VAE for decoding.
Image-to-video releases, told apart by their DiT's config: HunyuanVideo-I2V (HunyuanVideoImageToVideoPipeline;
`image_condition_type` "token_replace", or "latent_concat" for the first, 33-channel release), whose Llava text
encoder reads the prompt together with the image, so its prompt is encoded when DVSampler has the image; and
SkyReels-V1 (HunyuanSkyreelsImageToVideoPipeline: HunyuanVideo's own text encoders, a DiT taking noise and image
latents side by side, twice the latent channels in).

The pipeline's default prompt template says the template takes 95 tokens, which is only true of the real
Llama-3 tokenizer; prompts are encoded with the same template and its token count measured on the loaded
tokenizer, so the crop removes exactly the template with any tokenizer.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .. import host
from ..errors import DVInputError
from ..model_loaders.components import DVVAE, DVConditioning, DVModel, DVSchedulerSpec, DVTextEncoder
from ..samplers import decode as decode_util
from ..samplers.pipeline import SampleInputs, SampleParams, assemble, denoisers_loaded, run_denoise
from ..samplers.validate import check_common, require_conditioning
from .spec import Family, FrameRule, LatentGeometry, OptionSpec, Variant

TOKEN_REPLACE, LATENT_CONCAT = "token_replace", "latent_concat"  # the I2V DiT's image_condition_type


def _image_condition(configs: Mapping[str, Any]) -> str | None:
    return configs.get("denoiser", {}).get("image_condition_type")


def _is_framepack(configs: Mapping[str, Any]) -> bool:
    """FramePack's DiT embeds the clean (history) latents besides the noisy ones."""
    return bool(configs.get("denoiser", {}).get("has_clean_x_embedder"))


# HunyuanVideoFramepackPipeline's section defaults and its FramepackSamplingType values, the default first.
LATENT_WINDOW_SIZE = 9
SAMPLING_TYPES = ("inverted_anti_drifting", "vanilla")


def _is_skyreels(configs: Mapping[str, Any]) -> bool:
    """SkyReels-V1: no image_condition_type, and the noise and image latents side by side as input."""
    denoiser = configs.get("denoiser", {})
    if "in_channels" not in denoiser or _image_condition(configs) is not None:
        return False
    out_channels = denoiser.get("out_channels") or denoiser["in_channels"]
    return int(denoiser["in_channels"]) == 2 * int(out_channels)


FAMILY = Family(
    id="hunyuanvideo",
    label="HunyuanVideo",
    pipeline_classes={"t2v": "HunyuanVideoPipeline", "i2v": "HunyuanVideoImageToVideoPipeline",
                      "skyreels": "HunyuanSkyreelsImageToVideoPipeline", "framepack": "HunyuanVideoFramepackPipeline"},
    model_classes=("HunyuanVideoTransformer3DModel", "HunyuanVideoFramepackTransformer3DModel"),
    vae_classes=("AutoencoderKLHunyuanVideo",),
    # The Llama (text_encoder) is the one DVTextEncoderLoader is pointed at; the CLIP (text_encoder_2) comes
    # with it from the same folder.
    text_encoder_classes=("LlamaModel", "LlavaForConditionalGeneration"),
    frame_rule=FrameRule(multiple=4, offset=1),
    size_multiple=16,  # VAE 8 x patch 2
    pipeline_size_multiple=16,
    geometry=LatentGeometry(spatial=8, temporal=4, channels=16, scaling_factor=0.476986),
    order=30,
    single_file_types={"hunyuan-video": "HunyuanVideoTransformer3DModel"},
    comfy_latent_format="HunyuanVideo",
    flow_matching=True,
    # diffusers' HunyuanVideo example (hunyuanvideo-community/HunyuanVideo): 512x320, 61 frames, 30 steps,
    # saved at 15 fps; guidance 6.0 is the pipeline's default embedded guidance.
    defaults={"num_frames": 61, "fps": 15, "steps": 30, "guidance_scale": 6.0, "width": 512, "height": 320,
              "max_sequence_length": 256},
    options=(
        OptionSpec("true_cfg_scale", "FLOAT", 1.0, "True classifier-free guidance with the negative prompt, one "
                   "extra model pass per step; above 1 turns it on. DVSampler's guidance_scale is HunyuanVideo's "
                   "distilled (embedded) guidance, which needs no negative prompt. SkyReels-V1 runs with 6 "
                   "when this node is not wired (its pipeline's default).", 1.0, 30.0, 0.1),
        OptionSpec("latent_window_size", "INT", LATENT_WINDOW_SIZE, "FramePack only: latent frames made per section "
                   "(each section is (latent_window_size - 1) x 4 + 1 video frames); num_frames is rounded up to "
                   "whole sections.", 1, 33, 1, optional=True),
        OptionSpec("sampling_type", SAMPLING_TYPES, SAMPLING_TYPES[0], "FramePack only: the order sections are made "
                   "in. inverted_anti_drifting (FramePackI2V_HY) makes the end first and works back towards the "
                   "image; vanilla (FramePack-F1) goes forward from the image.", optional=True),
        OptionSpec("last_image", "IMAGE", None, "FramePack only, with inverted_anti_drifting: the last frame, with the "
                   "first in DVSampler's 'image'."),
    ),
    options_node="DVHunyuanVideoOptions",
    variants=(
        # The first HunyuanVideo-I2V release (HunyuanVideo-I2V-33ch): the pipeline decodes the image's latent
        # frame with the video and drops its 4 frames, so num_frames 5 is the shortest that leaves a frame.
        # Its guide calls it with guidance_scale=1.0 (no embedded guidance), true_cfg_scale=1.0.
        Variant("hunyuanvideo-i2v-33ch", lambda configs: _image_condition(configs) == LATENT_CONCAT, {
            "label": "HunyuanVideo-I2V (33 channels)", "frame_rule": FrameRule(multiple=4, offset=1, minimum=5),
            "defaults": {"num_frames": 129, "fps": 15, "steps": 50, "guidance_scale": 1.0, "width": 1280,
                         "height": 720, "max_sequence_length": 256},
            "notes": "The video is num_frames - 4 frames long: the pipeline drops the image's frames after decoding, "
                     "and so does DVVAEDecode. The prompt is encoded with the image (Llava) when DVSampler runs."}),
        # hunyuanvideo-community/HunyuanVideo-I2V; its guide: guidance_scale=6.0, 720x1280 x 129 frames (the
        # pipeline's defaults), saved at 15 fps.
        Variant("hunyuanvideo-i2v", lambda configs: _image_condition(configs) == TOKEN_REPLACE, {
            "label": "HunyuanVideo-I2V",
            "defaults": {"num_frames": 129, "fps": 15, "steps": 50, "guidance_scale": 6.0, "width": 1280,
                         "height": 720, "max_sequence_length": 256},
            "notes": "The prompt is encoded together with the image by the Llava text encoder when DVSampler runs; "
                     "the image processor comes from the folder's image_processor subfolder."}),
        # FramePack (lllyasviel/FramePackI2V_HY); its guide: 480x832 x 91 frames, 30 steps, guidance_scale=9.0,
        # inverted_anti_drifting, saved at 30 fps. Any frame count: it is rounded up to whole sections.
        Variant("framepack", _is_framepack, {
            "label": "FramePack (HunyuanVideo)", "frame_rule": FrameRule(multiple=1, offset=0),
            "defaults": {"num_frames": 91, "fps": 30, "steps": 30, "guidance_scale": 9.0, "width": 480,
                         "height": 832, "max_sequence_length": 256, "latent_window_size": LATENT_WINDOW_SIZE},
            "notes": "num_frames is rounded up to whole sections of (latent_window_size - 1) x 4 + 1 frames; "
                     "DVVAEDecode decodes section by section and blends the overlaps, as the pipeline does."}),
        # Skywork/SkyReels-V1-Hunyuan-I2V; the pipeline's defaults and guide: 960x544 x 97 frames, 30 steps,
        # true_cfg_scale=6.0 with a negative prompt, guidance_scale=1.0, saved at 15 fps.
        Variant("skyreels-v1-i2v", _is_skyreels, {
            "label": "SkyReels-V1 (HunyuanVideo I2V)",
            "defaults": {"num_frames": 97, "fps": 15, "steps": 30, "guidance_scale": 1.0, "true_cfg_scale": 6.0,
                         "width": 960, "height": 544, "max_sequence_length": 256},
            "notes": "SkyReels-V1 runs true classifier-free guidance (true_cfg_scale 6 unless DVHunyuanVideoOptions "
                     "says otherwise) with guidance_scale 1; its prompts are encoded as HunyuanVideo's."}),
    ),
    # The diffusers HunyuanVideo guide's table of recommended inference values (api/pipelines/hunyuan_video.md):
    # "text encoder dtype | torch.float16", "transformer dtype | torch.bfloat16", "vae dtype | torch.float16".
    # The transformer takes the device default (bf16 where supported); both text encoders (Llama, CLIP) fp16.
    # FramePack's guide (HunyuanVideoFramepackPipeline's example) loads its SigLIP image encoder in fp16 too.
    component_dtypes={"text_encoder": "fp16", "vae": "fp16", "image_encoder": "fp16"},
    notes="guidance_scale is the distilled guidance embedded in the model: the negative prompt is only used when "
    "DVHunyuanVideoOptions sets true_cfg_scale above 1 (twice the compute). The prompt template's token count is "
    "measured with the loaded tokenizer rather than the fixed 95 of Llama-3's.",
)

log = logging.getLogger("DiffusersVideo")

# hunyuanvideo-community/HunyuanVideo's scheduler (diffusers' conversion script): FlowMatch Euler, shift 7.
DEFAULT_SCHEDULER = DVSchedulerSpec.from_config_dict(
    "FlowMatchEulerDiscreteScheduler",
    {"num_train_timesteps": 1000, "shift": 7.0, "use_dynamic_shifting": False, "base_shift": 0.5, "max_shift": 1.15,
     "base_image_seq_len": 256, "max_image_seq_len": 4096, "invert_sigmas": False},
    "HunyuanVideo default",
)
CLIP_TOKENS = 77  # the pipeline always encodes the pooled CLIP prompt at 77 tokens


def _pipeline(**components: Any):
    from diffusers import HunyuanVideoPipeline

    return assemble(HunyuanVideoPipeline, **components)


def prompt_template(tokenizer) -> dict[str, Any]:
    """The pipeline's default template with crop_start counted on this tokenizer: the tokens (BOS included)
    before the prompt's place in the template."""
    from diffusers.pipelines.hunyuan_video.pipeline_hunyuan_video import DEFAULT_PROMPT_TEMPLATE

    template = DEFAULT_PROMPT_TEMPLATE["template"]
    before_prompt = template[:template.index("{}")]
    return {"template": template, "crop_start": len(tokenizer(before_prompt).input_ids)}


IMAGE_TOKEN = "<image>"  # where the I2V template puts the image, one token before the Llava expands it


def image_tokens(llava_config) -> int:
    """How many embeddings the Llava's vision tower puts in place of the image token: one per patch, plus the
    class token when it keeps it ("full")."""
    vision = llava_config.vision_config
    patches = (int(vision.image_size) // int(vision.patch_size)) ** 2
    return patches + (1 if llava_config.vision_feature_select_strategy == "full" else 0)


def i2v_prompt_template(tokenizer, llava_config) -> dict[str, Any]:
    """HunyuanVideoImageToVideoPipeline's default template with its counts taken from this tokenizer and Llava
    (the defaults, crop 103 and 576 image tokens from position 5, are llava-llama-3-8b's only)."""
    from diffusers.pipelines.hunyuan_video.pipeline_hunyuan_video_image2video import DEFAULT_PROMPT_TEMPLATE

    template = DEFAULT_PROMPT_TEMPLATE["template"]
    ids = tokenizer(template).input_ids
    image_token = tokenizer.convert_tokens_to_ids(IMAGE_TOKEN)
    if image_token != int(llava_config.image_token_index) or image_token not in ids:
        raise DVInputError("text_encoder", f"the tokenizer does not make '{IMAGE_TOKEN}' the Llava's image token "
                           f"({llava_config.image_token_index}), so the image could not be placed in the prompt.",
                           "the tokenizer and text encoder of the same HunyuanVideo-I2V folder.")
    start, count = ids.index(image_token), image_tokens(llava_config)
    before_prompt = template[:template.index("{}")]
    return {"template": template, "crop_start": len(tokenizer(before_prompt).input_ids),
            "image_emb_start": start, "image_emb_len": count, "image_emb_end": start + count}


def _is_llava(module) -> bool:
    return getattr(module.config, "model_type", "") == "llava"


def _text_encoders(te: DVTextEncoder):
    """(Llama or Llava, its tokenizer, CLIP managed module, CLIP tokenizer), each checked."""
    if te.tokenizer is None:
        raise DVInputError("text_encoder", "this text encoder came without its tokenizer.",
                           "load it from a diffusers folder that has a tokenizer subfolder.")
    config = te.module.config
    llama_config = config.text_config if _is_llava(te.module) else config
    if getattr(llama_config, "model_type", "") != "llama":
        raise DVInputError("text_encoder", f"{FAMILY.label} prompts start with its Llama text encoder (a Llava for "
                           f"HunyuanVideo-I2V), and this is a {type(te.module).__name__}.",
                           "the text_encoder subfolder of a HunyuanVideo folder (not text_encoder_2), or "
                           "DVPipelineLoader's text_encoder output.")
    if int(llama_config.num_hidden_layers) < 2:
        raise DVInputError("text_encoder", f"{FAMILY.label} reads the Llama's third-last hidden state, and "
                           f"this one has {llama_config.num_hidden_layers} layer(s).", "a Llama with 2 or more layers.")
    clip, clip_tokenizer = te.extras.get("text_encoder_2"), te.extras.get("tokenizer_2")
    if clip is None or clip_tokenizer is None:
        raise DVInputError("text_encoder", f"{FAMILY.label} also needs its CLIP text encoder and tokenizer "
                           "(text_encoder_2, tokenizer_2), which did not come with this one.",
                           "DVPipelineLoader, or DVTextEncoderLoader on the text_encoder subfolder of a folder that "
                           "has text_encoder_2 and tokenizer_2.")
    return te.module, te.tokenizer, clip, clip_tokenizer


def _check_lengths(tokenizer, clip_tokenizer, template: dict[str, Any], texts: dict[str, str],
                   limit: int, truncate: bool) -> list[str]:
    """State (or refuse) prompts that either encoder cuts, instead of cutting them silently: the Llama keeps
    `limit` tokens after the template, the CLIP (whose pooled output also steers the video) 77."""
    notes = []
    for input_name, text in texts.items():
        llama_tokens = len(tokenizer(template["template"].format(text)).input_ids) - template["crop_start"]
        clip_tokens = len(clip_tokenizer(text).input_ids)
        for encoder, count, most in (("Llama", llama_tokens, limit), ("CLIP", clip_tokens, CLIP_TOKENS)):
            if count <= most:
                continue
            if not truncate:
                raise DVInputError(input_name, f"{count} tokens, over the {encoder} text encoder's {most}.",
                                   f"at most {most} tokens, or turn truncate_long_prompt on.")
            message = (f"DVTextEncode: input '{input_name}': {count} tokens, over the {encoder} text encoder's {most}; "
                       "the end is cut off.")
            log.warning(message)
            notes.append(message)
    return notes


LLAVA_KEY = "dv_llava_prompt"  # a conditioning whose Llava half is encoded when DVSampler has the image


@dataclass(frozen=True)
class LlavaPrompt:
    """What HunyuanVideo-I2V needs to encode the prompt with the image at sampling: its Llava text encoder
    reads the two together (the image's embeddings sit inside the prompt), so no text-only embedding exists."""

    managed: host.ManagedModule
    tokenizer: Any
    image_processor: Any
    template: dict[str, Any]
    max_sequence_length: int


def _image_processor(te: DVTextEncoder):
    """The Llava's CLIPImageProcessor: from the folder's image_processor subfolder beside the text encoder
    (DVPipelineLoader and DVTextEncoderLoader both leave it on the model side or behind)."""
    if te.extras.get("image_processor") is not None:
        return te.extras["image_processor"]
    import os

    from transformers import CLIPImageProcessor

    path = host.resolve_in_folder("diffusers", te.source)
    for folder in ((path, os.path.dirname(path.rstrip(os.sep))) if path else ()):
        candidate = os.path.join(folder, "image_processor")
        if os.path.isfile(os.path.join(candidate, "preprocessor_config.json")):
            return CLIPImageProcessor.from_pretrained(candidate)
    raise DVInputError("text_encoder", "this HunyuanVideo-I2V text encoder (a Llava) came without the image "
                       "processor that prepares the image for it.",
                       "a HunyuanVideo-I2V folder with its image_processor subfolder, through DVPipelineLoader or "
                       "DVTextEncoderLoader.")


def encode(te: DVTextEncoder, prompt: str, negative_prompt: str, max_sequence_length: int,
           truncate: bool) -> DVConditioning:
    llama, tokenizer, clip, clip_tokenizer = _text_encoders(te)
    llava = _is_llava(llama)
    template = i2v_prompt_template(tokenizer, llama.config) if llava else prompt_template(tokenizer)
    notes = _check_lengths(tokenizer, clip_tokenizer, template,
                           {"prompt": prompt, "negative_prompt": negative_prompt}, max_sequence_length, truncate)
    managed = ([] if llava else [te.managed]) + ([clip] if isinstance(clip, host.ManagedModule) else [])
    host.load_to_device(managed)
    clip_module = clip.module if isinstance(clip, host.ManagedModule) else clip
    device = clip_module.device if llava else te.managed.device
    embeds: dict[str, Any] = {}
    if llava:
        from diffusers import HunyuanVideoImageToVideoPipeline

        # Only the pooled CLIP half now; given prompt embeddings, encode_prompt leaves the Llava alone.
        pipe = assemble(HunyuanVideoImageToVideoPipeline, tokenizer_2=clip_tokenizer, text_encoder_2=clip_module)
        for prefix, text in (("", prompt), ("negative_", negative_prompt)):
            _, pooled, _ = pipe.encode_prompt(None, text, prompt_embeds=_NOT_USED, device=device)
            embeds[f"{prefix}pooled_prompt_embeds"] = pooled
        embeds[LLAVA_KEY] = LlavaPrompt(te.managed, tokenizer, _image_processor(te), template, max_sequence_length)
        return DVConditioning(FAMILY, prompt, negative_prompt, embeds, notes)
    pipe = _pipeline(tokenizer=tokenizer, text_encoder=llama, tokenizer_2=clip_tokenizer, text_encoder_2=clip_module)
    # The crop assumes the template comes first, so the Llama side is padded on the right whatever the
    # tokenizer's own setting (the released tokenizer pads right; a left-padding one would lose the prompt).
    with decode_util.temporary_attributes(tokenizer, padding_side="right"):
        for prefix, text in (("", prompt), ("negative_", negative_prompt)):
            text_embeds, pooled, mask = pipe.encode_prompt(text, prompt_template=template, device=device,
                                                           max_sequence_length=max_sequence_length)
            embeds.update({f"{prefix}prompt_embeds": text_embeds, f"{prefix}prompt_attention_mask": mask,
                           f"{prefix}pooled_prompt_embeds": pooled})
    return DVConditioning(FAMILY, prompt, negative_prompt, embeds, notes)


class _NotUsed:
    """Stands for Llama embeddings encode_prompt must not compute (it checks only that they are given)."""

    def __repr__(self) -> str:
        return "<not used>"


_NOT_USED = _NotUsed()


def _check_scheduler(scheduler) -> None:
    """HunyuanVideoPipeline always hands the scheduler its own sigmas (1 -> 0, evenly spaced)."""
    if "sigmas" not in inspect.signature(scheduler.set_timesteps).parameters:
        raise DVInputError("scheduler", f"{type(scheduler).__name__} cannot take the sigma schedule "
                           f"{FAMILY.label} samples with.", "'from model' (FlowMatch Euler), or DVScheduler's "
                           "FlowMatch Euler or UniPC.")


def task_of(model: DVModel) -> str:
    """"i2v" (HunyuanVideo-I2V), "skyreels" (SkyReels-V1), "framepack" or "t2v", from the DiT's config."""
    config = model.module.config
    if _is_framepack({"denoiser": dict(config)}):
        return "framepack"
    if getattr(config, "image_condition_type", None) is not None:
        return "i2v"
    return "skyreels" if _is_skyreels({"denoiser": dict(config)}) else "t2v"


def _check_text_fits(model: DVModel, cond: DVConditioning, task: str) -> None:
    llava: LlavaPrompt | None = cond.embeds.get(LLAVA_KEY)
    label = model.family.label
    if task == "i2v" and llava is None:
        raise DVInputError("conditioning", f"{label} reads the prompt together with the image through its Llava "
                           "text encoder, and this conditioning comes from a text-only Llama.",
                           "DVTextEncode with the text encoder of the same HunyuanVideo-I2V folder.")
    if task != "i2v" and llava is not None:
        raise DVInputError("conditioning", f"this conditioning comes from HunyuanVideo-I2V's Llava text encoder, "
                           f"which only a HunyuanVideo-I2V model takes; '{model.source}' is {label}.",
                           f"DVTextEncode with the text encoder of the {label} folder (its Llama).")
    config = model.module.config
    text_width = (int(llava.managed.module.config.text_config.hidden_size) if llava is not None
                  else int(cond.embeds["prompt_embeds"].shape[-1]))
    for width, size, encoder in ((text_width, int(config.text_embed_dim), "Llama"),
                                 (int(cond.embeds["pooled_prompt_embeds"].shape[-1]),
                                  int(config.pooled_projection_dim), "CLIP")):
        if width != size:
            raise DVInputError("conditioning", f"the {encoder} text embeddings have width {width}, but this "
                               f"transformer expects {size}.", "the text encoders from the same HunyuanVideo folder.")


def _check_framepack_options(model: DVModel, task: str, inputs: SampleInputs) -> None:
    """FramePack's options, refused where they would do nothing (another model) or fail in the pipeline."""
    options = inputs.options or {}
    last = options.get("last_image")
    if task != "framepack":
        if last is not None:
            raise DVInputError("last_image", f"DVHunyuanVideoOptions' last_image is FramePack's, and '{model.source}' "
                               f"is {model.family.label}.", "a FramePack model, or disconnect 'last_image'.")
        for name, default in (("latent_window_size", LATENT_WINDOW_SIZE), ("sampling_type", SAMPLING_TYPES[0])):
            if name in options and options[name] != default:
                raise DVInputError("options", f"{name} {options[name]} is FramePack's, and '{model.source}' is "
                                   f"{model.family.label}.", f"{name} back at {default}, or a FramePack model.")
        return
    sampling_type = str(options.get("sampling_type", SAMPLING_TYPES[0]))
    if sampling_type not in SAMPLING_TYPES:
        raise DVInputError("options", f"sampling_type '{sampling_type}'.", ", ".join(SAMPLING_TYPES) + ".")
    if last is not None:
        if sampling_type != SAMPLING_TYPES[0]:
            raise DVInputError("last_image", f"FramePack takes a last frame with {SAMPLING_TYPES[0]} sampling "
                               f"only, and sampling_type is {sampling_type}.",
                               f"sampling_type {SAMPLING_TYPES[0]}, or disconnect 'last_image'.")
        first_size = (int(inputs.image.shape[2]), int(inputs.image.shape[1])) if inputs.image is not None else None
        last_size = (int(last.shape[2]), int(last.shape[1]))
        if first_size is not None and first_size != last_size:
            raise DVInputError("last_image", f"the last frame is {last_size[0]}x{last_size[1]}, the first "
                               f"{first_size[0]}x{first_size[1]}; both are stretched to the video's size, so one "
                               "would be distorted against the other.",
                               f"a last frame of {first_size[0]}x{first_size[1]} (resize or crop it first).")
    for role in ("image_encoder", "feature_extractor"):
        if model.companions.get(role) is None:
            raise DVInputError("model", f"FramePack conditions on the image's SigLIP embeddings, and this model came "
                               f"without its {role}.", "DVPipelineLoader on a FramePack folder with image_encoder and "
                               "feature_extractor subfolders (flux_redux_bfl's SigLIP).")


def _check_inputs(model: DVModel, task: str, params: SampleParams, inputs: SampleInputs) -> None:
    label = model.family.label
    if inputs.video is not None:
        raise DVInputError("video", f"{label} takes no video.", "disconnect 'video'.")
    _check_framepack_options(model, task, inputs)
    if task == "t2v":
        if inputs.image is not None:
            raise DVInputError("image", f"'{model.source}' is a {label} text-to-video model; it cannot start from "
                               "an image.", "an image-to-video model (HunyuanVideo-I2V, SkyReels-V1), or disconnect "
                               "'image'.")
        return
    if inputs.image is None:
        raise DVInputError("image", f"'{model.source}' is a {label} image-to-video model, and no image is wired in.",
                           "the first frame (an IMAGE) into 'image'.")
    if inputs.vae is None:
        raise DVInputError("vae", f"{label} encodes the image with its VAE, and none is wired in.",
                           "the VAE from the same folder.")
    channels = int(inputs.vae.module.config.latent_channels)
    wanted = int(model.module.config.out_channels or model.module.config.in_channels)
    if inputs.vae.family.id != FAMILY.id or channels != wanted:
        raise DVInputError("vae", f"the image is encoded to the model's latents, and this {inputs.vae.family.label} "
                           f"VAE makes {channels} channels where the model takes {wanted}.",
                           "AutoencoderKLHunyuanVideo from the same folder.")


def sample(model: DVModel, scheduler: DVSchedulerSpec, params: SampleParams,
           inputs: SampleInputs) -> dict[str, Any]:
    task = task_of(model)
    _check_inputs(model, task, params, inputs)
    cond = require_conditioning(model, inputs)
    check_common(model, cond, params, model.geometry.spatial * int(model.module.config.patch_size))
    _check_text_fits(model, cond, task)
    true_cfg_scale = float(inputs.option("true_cfg_scale", model.family.defaults.get("true_cfg_scale", 1.0)))
    instance = scheduler.create()
    _check_scheduler(instance)
    device = model.managed.device
    call_kwargs: dict[str, Any] = {
        "height": params.height, "width": params.width, "num_frames": params.num_frames,
        "num_inference_steps": params.num_inference_steps, "guidance_scale": params.guidance_scale,
        "true_cfg_scale": true_cfg_scale,
    }
    if task == "i2v":
        return _sample_i2v(model, instance, params, inputs, cond, call_kwargs)
    if task == "framepack":
        return _sample_framepack(model, instance, params, inputs, cond, call_kwargs)
    # The pipeline runs the negative pass only when it is given the negative embeddings and true_cfg_scale > 1.
    prefixes = ("", "negative_") if true_cfg_scale > 1 else ("",)
    for prefix in prefixes:
        for key in ("prompt_embeds", "prompt_attention_mask", "pooled_prompt_embeds"):
            call_kwargs[prefix + key] = cond.embeds[prefix + key].to(device=device)
    others = []
    if task == "skyreels":
        from diffusers import HunyuanSkyreelsImageToVideoPipeline

        from ..samplers.image_input import pipeline_image

        call_kwargs["image"] = pipeline_image("image", inputs.image, params.height, params.width, inputs.options)
        pipe = assemble(HunyuanSkyreelsImageToVideoPipeline, model.pipeline_config, transformer=model.module,
                        vae=inputs.vae.module, scheduler=instance)
        others = [inputs.vae.managed]
    else:
        pipe = _pipeline(transformer=model.module, scheduler=instance)
        # Geometry the pipeline reads from the VAE, which sampling does not need.
        pipe.vae_scale_factor_spatial = model.geometry.spatial
        pipe.vae_scale_factor_temporal = model.geometry.temporal
    with denoisers_loaded(model, *others):
        latents = run_denoise(pipe, call_kwargs, params, model.family.comfy_latent_format, lambda x: x)
    return {"samples": latents.to(host.intermediate_device()), "dv_family": FAMILY.id,
            "dv_num_frames": params.num_frames}


FRAMEPACK_KEY = "dv_framepack"  # how FramePack's sections were made, for decoding them as its pipeline does


def _sample_framepack(model: DVModel, instance, params: SampleParams, inputs: SampleInputs, cond: DVConditioning,
                      call_kwargs: dict[str, Any]) -> dict[str, Any]:
    """HunyuanVideoFramepackPipeline: sections of latent_window_size latent frames, each conditioned on the
    image, its SigLIP embeddings and the sections made before. Its latent output is the history after each
    section; the pipeline decodes section by section and blends the overlaps, which DVVAEDecode repeats."""
    from diffusers import HunyuanVideoFramepackPipeline

    from ..samplers.image_input import pipeline_image

    device = model.managed.device
    window = int(inputs.option("latent_window_size", LATENT_WINDOW_SIZE))
    sampling_type = str(inputs.option("sampling_type", SAMPLING_TYPES[0]))
    call_kwargs.update({"latent_window_size": window, "sampling_type": sampling_type,
                        "image": pipeline_image("image", inputs.image, params.height, params.width, inputs.options)})
    last = inputs.option("last_image", None)
    if last is not None:
        call_kwargs["last_image"] = pipeline_image("last_image", last, params.height, params.width, inputs.options)
    prefixes = ("", "negative_") if call_kwargs["true_cfg_scale"] > 1 else ("",)
    for prefix in prefixes:
        for key in ("prompt_embeds", "prompt_attention_mask", "pooled_prompt_embeds"):
            call_kwargs[prefix + key] = cond.embeds[prefix + key].to(device=device)
    encoder = model.companions["image_encoder"]
    pipe = assemble(HunyuanVideoFramepackPipeline, model.pipeline_config, transformer=model.module,
                    vae=inputs.vae.module, scheduler=instance, image_encoder=encoder.module,
                    feature_extractor=model.companions["feature_extractor"])
    temporal = model.geometry.temporal
    window_frames = (window - 1) * temporal + 1
    sections = max(1, (params.num_frames + window_frames - 1) // window_frames)
    with denoisers_loaded(model, inputs.vae.managed, encoder):
        history = run_denoise(pipe, call_kwargs, params, model.family.comfy_latent_format, lambda x: x,
                              total_steps=sections * params.num_inference_steps)
    counts = [int(h.shape[2]) for h in history]
    return {"samples": history[-1].to(host.intermediate_device()), "dv_family": FAMILY.id,
            "dv_num_frames": _framepack_frames(counts, window, sampling_type, temporal),
            FRAMEPACK_KEY: {"sections": counts, "latent_window_size": window, "sampling_type": sampling_type}}


def _section_slices(sections: list[int], window: int, sampling_type: str) -> list[tuple[int, int]]:
    """(start, stop) in the final history latents of what the pipeline decodes after each section: the whole
    history after the first, then each new section with the frames it overlaps (twice the window; one more
    with the image's latent frame at the end of inverted sampling, which makes the start of the video last)."""
    total = sections[-1]
    slices = []
    for k, count in enumerate(sections):
        # Inverted sampling puts each section in front of the history, vanilla after it.
        start, stop = (total - count, total) if sampling_type == SAMPLING_TYPES[0] else (0, count)
        if k > 0:
            if sampling_type == SAMPLING_TYPES[0]:
                stop = min(stop, start + 2 * window + (1 if k == len(sections) - 1 else 0))
            else:
                start = max(start, stop - 2 * window)
        slices.append((start, stop))
    return slices


def _framepack_frames(sections: list[int], window: int, sampling_type: str, temporal: int) -> int:
    """How many frames the pipeline's section-by-section decode makes: each decoded piece blended into the video
    over (window - 1) x temporal + 1 frames, the total cut to temporal k + 1."""
    overlap = (window - 1) * temporal + 1
    frames = 0
    for k, (start, stop) in enumerate(_section_slices(sections, window, sampling_type)):
        piece = (stop - start - 1) * temporal + 1
        frames = piece if k == 0 else frames + piece - overlap
    return (frames - 1) // temporal * temporal + 1


# The video frames the first latent frame decodes to, which HunyuanVideo-I2V-33ch's pipeline drops after
# decoding (that frame holds the image); DVVAEDecode drops them too.
LEAD_FRAMES_KEY = "dv_lead_frames"


def _sample_i2v(model: DVModel, instance, params: SampleParams, inputs: SampleInputs, cond: DVConditioning,
                call_kwargs: dict[str, Any]) -> dict[str, Any]:
    """HunyuanVideoImageToVideoPipeline, given the prompt text and the pooled CLIP embeddings: it encodes the
    prompt with the image through the Llava itself (and a negative prompt, under true CFG, with a black image,
    as it does), so the graph runs the pipeline's own encoding."""
    from diffusers import HunyuanVideoImageToVideoPipeline

    from ..samplers.image_input import pipeline_image

    llava: LlavaPrompt = cond.embeds[LLAVA_KEY]
    concat = model.module.config.image_condition_type == LATENT_CONCAT
    device = model.managed.device
    call_kwargs.update({
        "image": pipeline_image("image", inputs.image, params.height, params.width, inputs.options),
        "prompt": cond.prompt, "pooled_prompt_embeds": cond.embeds["pooled_prompt_embeds"].to(device=device),
        "prompt_template": llava.template, "max_sequence_length": llava.max_sequence_length,
    })
    if call_kwargs["true_cfg_scale"] > 1:
        call_kwargs["negative_prompt"] = cond.negative_prompt
        call_kwargs["negative_pooled_prompt_embeds"] = cond.embeds["negative_pooled_prompt_embeds"].to(device=device)
    pipe = assemble(HunyuanVideoImageToVideoPipeline, model.pipeline_config, transformer=model.module,
                    vae=inputs.vae.module, scheduler=instance, text_encoder=llava.managed.module,
                    tokenizer=llava.tokenizer, image_processor=llava.image_processor)
    # The 33-channel release's latent output leaves out the image's latent frame, which decoding needs (the
    # causal VAE decodes every frame after it differently without it): keep the scheduler's last result.
    last: dict[str, Any] = {}
    step = instance.step

    def keeping_step(*args, **kwargs):
        out = step(*args, **kwargs)
        last["latents"] = out[0] if isinstance(out, tuple) else out.prev_sample
        return out

    if concat:
        instance.step = keeping_step
    with denoisers_loaded(model, inputs.vae.managed, llava.managed), \
            decode_util.temporary_attributes(llava.tokenizer, padding_side="right"):
        latents = run_denoise(pipe, call_kwargs, params, model.family.comfy_latent_format, lambda x: x)
    result = {"dv_family": FAMILY.id, "dv_num_frames": params.num_frames}
    if concat:
        latents = last["latents"]
        result.update({LEAD_FRAMES_KEY: model.geometry.temporal, "dv_num_frames": params.num_frames -
                       model.geometry.temporal})
    return {"samples": latents.to(host.intermediate_device()), **result}


def _chunking(module, frames: int, chunk: int) -> dict[str, Any]:
    """VAE attributes for decoding `chunk` latent frames per decoder call (0 = the VAE's own default: 5,
    advancing by 3). The VAE's framewise decode overlaps each window with the last by two latent frames and
    blends one latent frame's worth of video frames, so chunked output differs a little from one pass."""
    if chunk == 0:
        return {}
    if chunk >= frames:
        return {"use_framewise_decoding": False}
    if chunk < 3:
        log.info("DVVAEDecode: decode_chunk_size %d raised to 3 (HunyuanVideo's VAE overlaps chunks by 2 latent "
                 "frames).", chunk)
        chunk = 3
    temporal = module.temporal_compression_ratio
    return {"use_framewise_decoding": True, "tile_sample_min_num_frames": (chunk - 1) * temporal,
            "tile_sample_stride_num_frames": (chunk - 2) * temporal}


def _decoder_calls(module, latents, spatial: int) -> int:
    frames = latents.shape[2]
    window = module.tile_sample_min_num_frames // module.temporal_compression_ratio
    tiles = decode_util.strided_tile_count(module, latents, spatial)
    if not (module.use_framewise_decoding and frames > window):
        return tiles
    stride = module.tile_sample_stride_num_frames // module.temporal_compression_ratio
    return len(range(0, frames, stride)) * decode_util.strided_tile_count(module, latents[:, :, :window + 1], spatial)


def decode(vae: DVVAE, latent: dict[str, Any], settings: decode_util.DecodeSettings):
    """As HunyuanVideoPipeline does after sampling: divide by the scaling factor, then the VAE with its own
    framewise (temporally tiled) decode, optionally in spatial tiles; HunyuanVideo-I2V-33ch's image frames
    dropped afterwards, as its pipeline drops them."""
    from diffusers.video_processor import VideoProcessor

    module = vae.module
    samples = latent["samples"]
    decode_util.check_latent(vae, samples, int(module.config.latent_channels))
    host.load_to_device([vae.managed])
    latents = samples.to(device=vae.managed.device, dtype=vae.managed.dtype) / module.config.scaling_factor
    spatial = vae.geometry.spatial
    overrides = {**decode_util.strided_tiling(settings, spatial),
                 **_chunking(module, latents.shape[2], settings.chunk)}
    sections = latent.get(FRAMEPACK_KEY)
    pieces = ([latents] if sections is None else
              [latents[:, :, start:stop] for start, stop in _section_slices(
                  sections["sections"], sections["latent_window_size"], sections["sampling_type"])])
    calls = sum(_decoder_calls(module, piece, spatial) for piece in pieces)
    with decode_util.temporary_attributes(module, **overrides):
        with decode_util.progress_per_call(module.decoder, calls):
            videos = [module.decode(piece, return_dict=False)[0] for piece in pieces]
    video = videos[0] if sections is None else _blend_sections(videos, sections, module.temporal_compression_ratio)
    video = video[:, :, int(latent.get(LEAD_FRAMES_KEY, 0)):]
    return decode_util.to_image(VideoProcessor(vae_scale_factor=spatial), video)


def _blend_sections(videos: list, sections: dict[str, Any], temporal: int):
    """FramePack's decoded sections joined as its pipeline joins them (its own _soft_append: a linear blend over
    the overlap), inverted sections in front of the video, vanilla ones after it; then cut to 4k+1 frames."""
    from diffusers import HunyuanVideoFramepackPipeline

    pipe = assemble(HunyuanVideoFramepackPipeline)
    overlap = (int(sections["latent_window_size"]) - 1) * temporal + 1
    video = videos[0]
    for current in videos[1:]:
        video = (pipe._soft_append(current, video, overlap) if sections["sampling_type"] == SAMPLING_TYPES[0]
                 else pipe._soft_append(video, current, overlap))
    frames = (video.shape[2] - 1) // temporal * temporal + 1
    return video[:, :, :frames]
