"""ChronoEdit (NVIDIA): image editing through video. A Wan2.1 image-to-video DiT (with CLIP image input) is
given the image to edit as the first frame and denoises a short video whose last frame is the edited image
("add a mouse bathing in the teacup"); the frames between show the edit happening. ChronoEditPipeline drives
it: the image comes into DVSampler's `image`, the prompt is encoded with UMT5 as Wan's, the decode is Wan's.

Without temporal reasoning the pipeline always makes 5 frames (whatever num_frames says), so DVSampler takes
num_frames 5 then. With `enable_temporal_reasoning` (DVChronoEditOptions) num_frames is the length of the
imagined trajectory; after `num_temporal_reasoning_steps` steps the pipeline drops the reasoning frames and
finishes the first and last frame alone (5 frames come out). With reasoning steps >= the steps, as the guide
runs it (29 frames, 50 and 50), the whole trajectory is decoded as the pipeline decodes it: the reasoning frames,
then the edit decoded from the first and last latent frames."""

from __future__ import annotations

from typing import Any

from .. import host
from ..errors import DVInputError
from ..model_loaders.components import DVVAE, DVConditioning, DVModel, DVSchedulerSpec, DVTextEncoder
from ..samplers import decode as decode_util
from ..samplers.clip_text import encode_t5_with_pipeline
from ..samplers.pipeline import SampleInputs, SampleParams, assemble, denoisers_loaded, run_denoise
from ..samplers.validate import check_common, check_text_width, require_conditioning
from . import wan
from .spec import Family, FrameRule, LatentGeometry, OptionSpec

EDIT_FRAMES = 5  # ChronoEditPipeline's num_frames whenever temporal reasoning is off

FAMILY = Family(
    id="chronoedit",
    label="ChronoEdit",
    pipeline_classes={"i2v": "ChronoEditPipeline"},
    model_classes=("ChronoEditTransformer3DModel",),
    vae_classes=("AutoencoderKLWan",),
    text_encoder_classes=("UMT5EncoderModel", "T5EncoderModel"),
    frame_rule=FrameRule(multiple=4, offset=1, minimum=EDIT_FRAMES),
    size_multiple=16,
    pipeline_size_multiple=16,
    geometry=LatentGeometry(spatial=8, temporal=4, channels=16, scaling_factor=1.0),
    order=28,
    comfy_latent_format="Wan21",
    flow_matching=True,
    # The guide's image edit: 5 frames, 50 steps, guidance 5, 512 tokens (its __call__ default); the size follows
    # the image (720x1280 area at its aspect); 1280x720 is that area for a landscape image. fps 16 as its export.
    defaults={"num_frames": EDIT_FRAMES, "fps": 16, "steps": 50, "guidance_scale": 5.0, "width": 1280,
              "height": 720, "max_sequence_length": 512},
    options=(
        OptionSpec("enable_temporal_reasoning", "BOOLEAN", False, "Imagine the edit as a trajectory of num_frames "
                   "frames first (more physically plausible edits); off: the pipeline makes 5 frames."),
        OptionSpec("num_temporal_reasoning_steps", "INT", 0, "With temporal reasoning: the steps that denoise the "
                   "whole trajectory before it is dropped for the first and last frame; at least the step count "
                   "keeps the trajectory (the guide: 50 of 50 steps).", 0, 1000, 1),
    ),
    options_node="DVChronoEditOptions",
    # The guide loads `CLIPVisionModel.from_pretrained(..., dtype=torch.float32)` and `AutoencoderKLWan
    # .from_pretrained(..., dtype=torch.float32)` beside a bf16 transformer; the DiT is Wan's (fp16 overflow).
    component_dtypes={"vae": "fp32", "image_encoder": "fp32"},
    fp16_overflows=True,
)

# UniPC on flow sigmas (the scheduler the guide's distilled run derives from the folder's), with Wan2.1-I2V's
# shift 5.0, for a model loaded without its folder.
DEFAULT_SCHEDULER = DVSchedulerSpec.from_config_dict(
    "UniPCMultistepScheduler",
    {"num_train_timesteps": 1000, "prediction_type": "flow_prediction", "use_flow_sigmas": True,
     "flow_shift": 5.0, "solver_order": 2, "final_sigmas_type": "zero"},
    "ChronoEdit default",
)


def _pipeline_class():
    from diffusers import ChronoEditPipeline

    return ChronoEditPipeline


def _pipeline(**components: Any):
    return assemble(_pipeline_class(), **components)


def encode(te: DVTextEncoder, prompt: str, negative_prompt: str, max_sequence_length: int,
           truncate: bool) -> DVConditioning:
    return encode_t5_with_pipeline(FAMILY, _pipeline, te, prompt, negative_prompt, max_sequence_length,
                                   truncate, ("prompt_embeds", "negative_prompt_embeds"))


def _reasoning(params: SampleParams, inputs: SampleInputs) -> tuple[bool, int]:
    enabled = bool(inputs.option("enable_temporal_reasoning", False))
    steps = int(inputs.option("num_temporal_reasoning_steps", 0))
    if not enabled and params.num_frames != EDIT_FRAMES:
        raise DVInputError("num_frames", f"{params.num_frames} frames, but without temporal reasoning "
                           f"ChronoEditPipeline always makes {EDIT_FRAMES} (the image and its edit).",
                           f"{EDIT_FRAMES}, or enable_temporal_reasoning on DVChronoEditOptions for a longer "
                           "trajectory.")
    if enabled and steps < 1:
        raise DVInputError("options", "temporal reasoning is on with 0 reasoning steps: the trajectory would be "
                           "dropped before the first step, which is the same as no reasoning.",
                           "num_temporal_reasoning_steps of 1 or more (the guide: as many as the steps), or "
                           "enable_temporal_reasoning off.")
    return enabled, steps


def _check_vae(model: DVModel, vae: DVVAE, input_name: str = "vae") -> None:
    channels = int(model.module.config.out_channels)
    vae_channels = getattr(vae.module.config, "z_dim", None)
    if vae.family.id != FAMILY.id or vae_channels != channels:
        raise DVInputError(input_name, f"the image is encoded to the model's latents, and this is a "
                           f"{vae.family.label} VAE with {vae_channels or '?'} latent channels where the "
                           f"{FAMILY.label} model has {channels}.", f"the VAE from the same {FAMILY.label} folder.")


def _check_inputs(model: DVModel, params: SampleParams, inputs: SampleInputs) -> DVConditioning:
    if inputs.video is not None:
        raise DVInputError("video", f"{FAMILY.label} edits one image and takes no video.",
                           "disconnect 'video'; wire the image to edit into 'image'.")
    if inputs.image is None:
        raise DVInputError("image", f"{FAMILY.label} edits an image, and none is wired in.",
                           "the image to edit (Load Image's IMAGE) into 'image'.")
    if inputs.vae is None:
        raise DVInputError("vae", f"{FAMILY.label} encodes the image with its VAE, and none is wired in.",
                           "the VAE from the same folder.")
    _check_vae(model, inputs.vae)
    for role in ("image_encoder", "image_processor"):
        if role not in model.companions:
            raise DVInputError("model", f"this {FAMILY.label} model came without its {role}.",
                               "load it with DVPipelineLoader from its diffusers folder.")
    cond = require_conditioning(model, inputs)
    patch = model.module.config.patch_size  # (t, h, w)
    check_common(model, cond, params, model.geometry.spatial * int(patch[1]))
    text_dim = int(model.module.config.text_dim)
    embeds = cond.embeds["prompt_embeds"]
    check_text_width(model, cond, text_dim, "UMT5 text encoder")
    if model.module.config.added_kv_proj_dim is not None and int(embeds.shape[1]) != wan.I2V_TEXT_TOKENS:
        raise DVInputError("conditioning", f"the prompt was encoded to {embeds.shape[1]} tokens; {FAMILY.label} "
                           f"tells text from image tokens by position and needs exactly {wan.I2V_TEXT_TOKENS}.",
                           f"max_sequence_length {wan.I2V_TEXT_TOKENS} on DVTextEncode.")
    return cond


def sample(model: DVModel, scheduler: DVSchedulerSpec, params: SampleParams,
           inputs: SampleInputs) -> dict[str, Any]:
    from ..samplers.image_input import pipeline_image

    cond = _check_inputs(model, params, inputs)
    reasoning, reasoning_steps = _reasoning(params, inputs)
    dtype, device = model.managed.dtype, model.managed.device
    call_kwargs = {
        "prompt_embeds": cond.embeds["prompt_embeds"].to(device=device, dtype=dtype),
        "negative_prompt_embeds": cond.embeds["negative_prompt_embeds"].to(device=device, dtype=dtype),
        # The same PIL image for the VAE and the CLIP encoder, as the guide passes it.
        "image": pipeline_image("image", inputs.image, params.height, params.width, inputs.options),
        "height": params.height, "width": params.width, "num_frames": params.num_frames,
        "num_inference_steps": params.num_inference_steps, "guidance_scale": params.guidance_scale,
        "enable_temporal_reasoning": reasoning, "num_temporal_reasoning_steps": reasoning_steps,
    }
    solver = scheduler.create()
    if reasoning and reasoning_steps < params.num_inference_steps and not hasattr(solver, "model_outputs"):
        # Dropping the trajectory mid-run trims a multistep solver's history; diffusers fails on any other.
        raise DVInputError("scheduler", f"{type(solver).__name__} keeps no solver history, which temporal "
                           "reasoning trims when it drops the trajectory before the last step.",
                           "a multistep scheduler (UniPC, the model's own), or num_temporal_reasoning_steps "
                           "at least the step count.")
    pipe = assemble(_pipeline_class(), model.pipeline_config, transformer=model.module, vae=inputs.vae.module,
                    scheduler=solver, image_processor=model.companions["image_processor"],
                    image_encoder=model.companions["image_encoder"].module)
    with denoisers_loaded(model, inputs.vae.managed, *model.managed_companions()):
        latents = run_denoise(pipe, call_kwargs, params, model.family.comfy_latent_format, lambda x: x)
    frames = (int(latents.shape[2]) - 1) * model.geometry.temporal + 1
    return {"samples": latents.to(host.intermediate_device()), "dv_family": FAMILY.id, "dv_num_frames": frames,
            "dv_temporal_reasoning": reasoning}


def decode(vae: DVVAE, latent: dict[str, Any], settings: decode_util.DecodeSettings):
    """As ChronoEditPipeline decodes: Wan's decode; a whole reasoning trajectory (more than the first and last
    latent frame left after temporal reasoning) as the reasoning frames followed by the edit, decoded from the
    first and last latent frames, without its first frame."""
    import torch

    samples = latent["samples"]
    if not latent.get("dv_temporal_reasoning") or samples.ndim != 5 or samples.shape[2] <= 2:
        return wan.decode(vae, latent, settings)
    edit = wan.decode(vae, {**latent, "samples": samples[:, :, [0, -1]]}, settings)
    reasoning = wan.decode(vae, {**latent, "samples": samples[:, :, :-1]}, settings)
    return torch.cat([reasoning, edit[1:]], dim=0)
