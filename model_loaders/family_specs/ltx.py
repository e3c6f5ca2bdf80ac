"""LTX-Video (Lightricks): text- and image-to-video with a T5 encoder, a flow-matching DiT on 1x1 patches of
a 32x-compressed latent, and a VAE whose decoder can be conditioned on a timestep with added noise."""

from ..families import Family, FrameRule, LatentGeometry, OptionSpec

FAMILY = Family(
    id="ltx",
    label="LTX-Video",
    pipeline_classes={"t2v": "LTXPipeline", "i2v": "LTXImageToVideoPipeline"},
    model_classes=("LTXVideoTransformer3DModel",),
    vae_classes=("AutoencoderKLLTXVideo",),
    text_encoder_classes=("T5EncoderModel",),
    frame_rule=FrameRule(multiple=8, offset=1),
    size_multiple=32,
    geometry=LatentGeometry(spatial=32, temporal=8, channels=128, scaling_factor=1.0),
    glue="ltx",
    order=25,
    comfy_latent_format="LTXV",
    flow_matching=True,
    defaults={"num_frames": 161, "fps": 24, "steps": 50, "guidance_scale": 3.0, "width": 704, "height": 480,
              "max_sequence_length": 128},
    options=(
        OptionSpec("frame_rate", "INT", 24, "The frame rate the model is told the video has (it scales the "
                   "positions in time); match DVVideoCombine's fps.", 1, 120, 1),
        OptionSpec("decode_timestep", "FLOAT", 0.03, "Timestep the VAE decodes at (LTX-Video 0.9.1 and later; "
                   "0.9.0 ignores it). Higher smooths more.", 0.0, 1.0, 0.005),
        OptionSpec("decode_noise_scale", "FLOAT", 0.025, "Noise mixed into the latents before that decode "
                   "(the model card's 0.025).", 0.0, 1.0, 0.005),
        OptionSpec("guidance_rescale", "FLOAT", 0.0, "Pull the guided prediction's spread back towards the "
                   "prompt-only one (0 off; ~0.7 in the paper) against over-saturation at high guidance. "
                   "Only acts with guidance_scale > 1.", 0.0, 1.0, 0.05),
    ),
    options_node="DVLTXOptions",
)
