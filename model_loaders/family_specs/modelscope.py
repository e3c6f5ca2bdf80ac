"""ModelScope text-to-video (damo-vilab): a 3D UNet over Stable Diffusion's image VAE and CLIP encoder."""

from ..families import Family, FrameRule, LatentGeometry

FAMILY = Family(
    id="modelscope",
    label="ModelScope T2V",
    pipeline_classes={"t2v": "TextToVideoSDPipeline"},
    model_classes=("UNet3DConditionModel",),
    vae_classes=("AutoencoderKL",),  # shared with image models: loaders read the family from the folder
    text_encoder_classes=("CLIPTextModel",),
    frame_rule=FrameRule(multiple=1, offset=0, minimum=1),  # an image VAE: every frame has its own latent
    size_multiple=8,
    geometry=LatentGeometry(spatial=8, temporal=1, channels=4, scaling_factor=0.18215),
    glue="modelscope",
    order=90,
    comfy_latent_format="SD15",
    defaults={"num_frames": 16, "fps": 8, "steps": 25, "guidance_scale": 9.0, "width": 256, "height": 256},
)
