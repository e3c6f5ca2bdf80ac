"""AnimateDiff: a motion adapter that turns any Stable Diffusion 1.5 UNet into a video model."""

from ..families import Family, FrameRule, LatentGeometry

FAMILY = Family(
    id="animatediff",
    label="AnimateDiff",
    # A plain SD1.5 folder is detected as this family too: it becomes a video model once a motion adapter
    # is applied (DVApplyMotionAdapter), or makes video frame by frame with cross-frame attention
    # (Text2Video-Zero: a ControlNet, InstructPix2Pix, or the motion-field text-to-video pipeline).
    pipeline_classes={"t2v": "AnimateDiffPipeline", "sd15": "StableDiffusionPipeline",
                      "controlnet": "StableDiffusionControlNetPipeline",
                      "pix2pix": "StableDiffusionInstructPix2PixPipeline", "t2v_zero": "TextToVideoZeroPipeline"},
    model_classes=("UNetMotionModel", "UNet2DConditionModel"),
    vae_classes=("AutoencoderKL",),
    text_encoder_classes=("CLIPTextModel",),
    frame_rule=FrameRule(multiple=1, offset=0, minimum=1),
    size_multiple=8,
    geometry=LatentGeometry(spatial=8, temporal=1, channels=4, scaling_factor=0.18215),
    glue="animatediff",
    order=60,
    comfy_latent_format="SD15",
    defaults={"num_frames": 16, "fps": 8, "steps": 50, "guidance_scale": 7.5, "width": 512, "height": 512},
)
