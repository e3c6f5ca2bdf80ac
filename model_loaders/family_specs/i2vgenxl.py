"""I2VGen-XL (Alibaba DAMO): image-to-video with a prompt, a CLIP text and image encoder, a 3D UNet over
Stable Diffusion's image VAE."""

from ..families import Family, FrameRule, LatentGeometry, OptionSpec

FAMILY = Family(
    id="i2vgenxl",
    label="I2VGen-XL",
    pipeline_classes={"i2v": "I2VGenXLPipeline"},
    model_classes=("I2VGenXLUNet",),
    vae_classes=("AutoencoderKL",),  # shared with image models: loaders read the family from the folder
    text_encoder_classes=("CLIPTextModel",),
    frame_rule=FrameRule(multiple=1, offset=0, minimum=1),  # an image VAE: every frame has its own latent
    size_multiple=8,
    geometry=LatentGeometry(spatial=8, temporal=1, channels=4, scaling_factor=0.18215),
    glue="i2vgenxl",
    order=55,
    comfy_latent_format="SD15",
    # fps is the rate the original code saves at; the model is conditioned on target_fps (an option).
    defaults={"num_frames": 16, "fps": 8, "steps": 50, "guidance_scale": 9.0, "width": 1280, "height": 704,
              "decode_chunk_size": 1},
    notes="The prompt is encoded from CLIP's penultimate layer (clip_skip 1), as the pipeline always does.",
    options=(
        OptionSpec("target_fps", "INT", 16, "The frame rate the video is conditioned on (a micro-condition of "
                   "the UNet; the pipeline's default 16). The saved video's rate is set where it is saved.",
                   1, 60, 1),
    ),
    options_node="DVI2VGenXLOptions",
)
