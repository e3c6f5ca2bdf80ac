"""ControlNet video and Text2Video-Zero: an SD1.5 image model made to produce coherent frames."""

from __future__ import annotations

from dataclasses import replace

from ..errors import DVInputError, expect_type, finite_number
from ..families import all_families
from ..model_loaders import loading
from ..model_loaders.components import DVControl, DVControlNet, DVModel, DVSamplerOptions
from .loaders import DTYPE_INPUT

# The Text2Video-Zero / InstructPix2Pix options apply to the families whose UNet takes a ControlNet (SD1.5).
_CONTROL_FAMILIES = tuple(family.id for family in all_families() if family.takes_control)

CATEGORY = "DiffusersVideo/controlnet"


class DVControlNetLoader:
    DISPLAY_NAME = "DV Load ControlNet"
    CATEGORY = CATEGORY
    DESCRIPTION = ("Loads a Stable Diffusion 1.5 ControlNet (pose, edges, depth, ...) from models/controlnet: a "
                   "diffusers folder, or an original .safetensors diffusers can convert; also AnimateDiff's SparseCtrl "
                   "(diffusers folder), which conditions chosen frames only.")
    FUNCTION = "load"
    RETURN_TYPES = ("DV_CONTROLNET",)
    RETURN_NAMES = ("controlnet",)
    OUTPUT_TOOLTIPS = ("The ControlNet, for DVApplyControlNet.",)

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "controlnet": (loading.list_controlnets(), {"tooltip": "A ControlNet in models/controlnet."}),
                "dtype": DTYPE_INPUT,
            }
        }

    def load(self, controlnet: str, dtype: str):
        from .. import host

        module = loading.load_controlnet(controlnet, dtype)
        return (DVControlNet(host.ManagedModule(module, controlnet), controlnet),)


class DVApplyControlNet:
    DISPLAY_NAME = "DV Apply ControlNet"
    CATEGORY = CATEGORY
    DESCRIPTION = ("Pairs a ControlNet with one control image per frame (a pose skeleton video, edge maps from "
                   "core's Canny node, ...). Wire the result into DVSampler's control input with an SD1.5 model.")
    FUNCTION = "apply"
    RETURN_TYPES = ("DV_CONTROL",)
    RETURN_NAMES = ("control",)
    OUTPUT_TOOLTIPS = ("The control for DVSampler (or DVCrossFrameAttention first).",)

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "controlnet": ("DV_CONTROLNET", {"tooltip": "From DVControlNetLoader."}),
                "control_frames": ("IMAGE", {"tooltip": "One control image per frame; DVSampler's num_frames "
                                             "must match their count (SparseCtrl: one per chosen frame, placed by "
                                             "DVAnimateDiffOptions' controlnet_frame_indices)."}),
                "strength": ("FLOAT", {"default": 1.0, "min": 0.0, "max": 10.0, "step": 0.01,
                                       "tooltip": "controlnet_conditioning_scale: how strongly the control steers."}),
            }
        }

    def apply(self, controlnet: DVControlNet, control_frames, strength: float):
        expect_type("controlnet", controlnet, DVControlNet, "a DV_CONTROLNET")
        if getattr(control_frames, "ndim", 0) != 4 or int(control_frames.shape[-1]) != 3:
            raise DVInputError("control_frames", "expected an IMAGE batch [frames, H, W, 3].",
                               "frames from DVLoadVideo, LoadImage or an edge/pose node.")
        return (DVControl(controlnet, control_frames, finite_number("strength", strength, 0.0, 10.0)),)


class DVCrossFrameAttention:
    DISPLAY_NAME = "DV Cross-Frame Attention"
    CATEGORY = CATEGORY
    DESCRIPTION = ("Makes every frame attend to the first (diffusers' CrossFrameAttnProcessor), so frames made "
                   "one by one from an SD1.5 image model stay coherent: on the UNet and, when wired, the "
                   "ControlNet. The batch size classifier-free guidance needs is worked out at sampling time; the "
                   "processors are set for that run only, so the loaded models are unchanged elsewhere.")
    FUNCTION = "apply"
    RETURN_TYPES = ("DV_MODEL", "DV_CONTROL")
    RETURN_NAMES = ("model", "control")
    OUTPUT_TOOLTIPS = ("The model with cross-frame attention, for DVSampler.",
                       "The control with cross-frame attention on its ControlNet (None when none was wired).")

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {"model": ("DV_MODEL", {"tooltip": "A Stable Diffusion 1.5 (or InstructPix2Pix) model."})},
            "optional": {"control": ("DV_CONTROL", {"tooltip": "From DVApplyControlNet."})},
        }

    def apply(self, model: DVModel, control: DVControl | None = None):
        expect_type("model", model, DVModel, "a DV_MODEL")
        from diffusers import UNet2DConditionModel

        if not isinstance(model.module, UNet2DConditionModel):
            raise DVInputError("model", f"cross-frame attention is for SD1.5 image UNets; this is a "
                               f"{type(model.module).__name__} ({model.family.label}).",
                               "an SD1.5 or InstructPix2Pix model from DVPipelineLoader (no motion adapter).")
        if control is not None:
            expect_type("control", control, DVControl, "a DV_CONTROL")
            control = replace(control, cross_frame=True)
        return (replace(model, cross_frame=True), control)


class DVText2VideoZeroOptions:
    DISPLAY_NAME = "DV Text2Video-Zero Options"
    CATEGORY = CATEGORY
    DESCRIPTION = ("Text-to-video from an SD1.5 image model with no training (TextToVideoZeroPipeline): the first "
                   "frame's latents are warped along a motion field into the others. Wire into DVSampler's options.")
    FUNCTION = "build"
    RETURN_TYPES = ("DV_SAMPLER_OPTIONS",)
    RETURN_NAMES = ("options",)
    OUTPUT_TOOLTIPS = ("Text2Video-Zero settings for DVSampler.",)

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "motion_field_strength_x": ("FLOAT", {"default": 12.0, "min": -100.0, "max": 100.0, "step": 0.5,
                                                      "tooltip": "Horizontal motion per frame (latent pixels)."}),
                "motion_field_strength_y": ("FLOAT", {"default": 12.0, "min": -100.0, "max": 100.0, "step": 0.5,
                                                      "tooltip": "Vertical motion per frame (latent pixels)."}),
                "t0": ("INT", {"default": 44, "min": 0, "max": 999,
                               "tooltip": "Step index where the motion is applied (below t1; 44 for 50 steps)."}),
                "t1": ("INT", {"default": 47, "min": 1, "max": 999,
                               "tooltip": "Step index the warped latents are re-noised to (47 for 50 steps)."}),
            }
        }

    def build(self, motion_field_strength_x: float, motion_field_strength_y: float, t0: int, t1: int):
        if not t0 < t1:  # the warp happens at step t0 and re-noises to t1: a reversed or empty range cannot run
            raise DVInputError("t0", f"t0={t0} is not before t1={t1}.",
                               "t0 < t1 < num_inference_steps - 1 (44 and 47 for 50 steps).")
        values = {"motion_field_strength_x": finite_number("motion_field_strength_x", motion_field_strength_x,
                                                           -100.0, 100.0),
                  "motion_field_strength_y": finite_number("motion_field_strength_y", motion_field_strength_y,
                                                           -100.0, 100.0), "t0": t0, "t1": t1}
        return (DVSamplerOptions(_CONTROL_FAMILIES, tuple(sorted(values.items())), "DVText2VideoZeroOptions"),)


class DVInstructPix2PixOptions:
    DISPLAY_NAME = "DV InstructPix2Pix Options"
    CATEGORY = CATEGORY
    DESCRIPTION = ("How closely an InstructPix2Pix video edit keeps to the input frames. Wire into DVSampler's "
                   "options with an InstructPix2Pix model and the video to edit.")
    FUNCTION = "build"
    RETURN_TYPES = ("DV_SAMPLER_OPTIONS",)
    RETURN_NAMES = ("options",)
    OUTPUT_TOOLTIPS = ("InstructPix2Pix settings for DVSampler.",)

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "image_guidance_scale": ("FLOAT", {"default": 1.5, "min": 0.0, "max": 30.0, "step": 0.05,
                                                   "tooltip": "Higher keeps closer to the input frames (>= 1 "
                                                   "turns image guidance on)."}),
            }
        }

    def build(self, image_guidance_scale: float):
        image_guidance_scale = finite_number("image_guidance_scale", image_guidance_scale, 0.0, 30.0)
        return (DVSamplerOptions(_CONTROL_FAMILIES, (("image_guidance_scale", image_guidance_scale),),
                                 "DVInstructPix2PixOptions"),)


NODES = [DVControlNetLoader, DVApplyControlNet, DVCrossFrameAttention, DVText2VideoZeroOptions,
         DVInstructPix2PixOptions]
