"""Stable Video Diffusion (Stability AI): image-to-video with a CLIP image encoder and a temporal VAE decoder."""

from ..families import Family, FrameRule, LatentGeometry, OptionSpec

FAMILY = Family(
    id="svd",
    label="Stable Video Diffusion",
    pipeline_classes={"i2v": "StableVideoDiffusionPipeline"},
    model_classes=("UNetSpatioTemporalConditionModel",),
    vae_classes=("AutoencoderKLTemporalDecoder",),
    text_encoder_classes=(),
    frame_rule=FrameRule(multiple=1, offset=0, minimum=1),
    size_multiple=8,
    geometry=LatentGeometry(spatial=8, temporal=1, channels=4, scaling_factor=0.18215),
    glue="svd",
    order=50,
    comfy_latent_format="SD15",
    defaults={"num_frames": 25, "fps": 7, "steps": 25, "guidance_scale": 3.0, "width": 1024, "height": 576,
              "decode_chunk_size": 8},
    options=(
        OptionSpec("fps", "INT", 7, "The frame rate the video is conditioned on (SVD was trained on fps - 1, "
                   "which the pipeline applies).", 1, 60, 1),
        OptionSpec("motion_bucket_id", "INT", 127, "How much motion: higher moves more.", 1, 255, 1),
        OptionSpec("noise_aug_strength", "FLOAT", 0.02, "Noise added to the input image: more lets the video "
                   "depart further from it.", 0.0, 1.0, 0.01),
        OptionSpec("min_guidance_scale", "FLOAT", 1.0, "Guidance at the first frame; it rises linearly to "
                   "DVSampler's guidance_scale (the pipeline's max_guidance_scale) at the last.", 0.0, 30.0, 0.1),
    ),
    options_node="DVSVDOptions",
)
