"""Mochi-1 (Genmo): text-to-video with a T5 encoder, an asymmetric DiT and a causal 3D VAE."""

from ..families import Family, FrameRule, LatentGeometry

FAMILY = Family(
    id="mochi",
    label="Mochi-1",
    pipeline_classes={"t2v": "MochiPipeline"},
    model_classes=("MochiTransformer3DModel",),
    vae_classes=("AutoencoderKLMochi",),
    text_encoder_classes=("T5EncoderModel",),
    # MochiPipeline samples (num_frames - 1) // 6 + 1 latent frames and the VAE decodes (latent - 1) * 6 + 1,
    # so any other count would silently come out as the 6k+1 below it.
    frame_rule=FrameRule(multiple=6, offset=1),
    size_multiple=16,  # VAE 8 x patch 2; the pipeline itself only checks 8
    # The VAE config has latents_mean/std and scaling_factor 1.0; the pipeline hard-codes factors 8 and 6.
    geometry=LatentGeometry(spatial=8, temporal=6, channels=12, scaling_factor=1.0),
    glue="mochi",
    order=40,
    comfy_latent_format="Mochi",
    flow_matching=True,
    # Model card: 848x480, 30 fps, 64 steps, guidance 4.5; its 84 frames is not 6k+1, so 85.
    defaults={"num_frames": 85, "fps": 30, "steps": 64, "guidance_scale": 4.5, "width": 848, "height": 480,
              "max_sequence_length": 256},
    notes="The model card's 84 frames is not a count Mochi produces (6k+1); 85 is the nearest above. "
    "Sampling uses Mochi's own linear-quadratic sigmas and a transformer that counts time from noise to data, "
    "so the scheduler is FlowMatch Euler with the model's inverted sigmas (others are refused).",
)
