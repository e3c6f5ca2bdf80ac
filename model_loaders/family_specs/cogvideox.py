"""CogVideoX (THUDM): text-, image- and video-to-video with a T5 encoder, a DiT and a causal 3D VAE."""

from ..families import Family, FrameRule, LatentGeometry, OptionSpec

FAMILY = Family(
    id="cogvideox",
    label="CogVideoX",
    pipeline_classes={
        "t2v": "CogVideoXPipeline",
        "i2v": "CogVideoXImageToVideoPipeline",
        "v2v": "CogVideoXVideoToVideoPipeline",
    },
    model_classes=("CogVideoXTransformer3DModel",),
    vae_classes=("AutoencoderKLCogVideoX",),
    text_encoder_classes=("T5EncoderModel",),
    frame_rule=FrameRule(multiple=4, offset=1),
    size_multiple=16,
    geometry=LatentGeometry(spatial=8, temporal=4, channels=16, scaling_factor=1.15258426),
    glue="cogvideox",
    order=10,
    options=(
        OptionSpec("use_dynamic_cfg", "BOOLEAN", False, "Raise guidance over the steps (CogVideoX's cosine "
                   "schedule); recommended with the CogVideoX DPM scheduler."),
        OptionSpec("strength", "FLOAT", 0.8, "Video-to-video only: how much of the input video is repainted "
                   "(0 keeps it, 1 ignores it).", 0.0, 1.0, 0.01),
    ),
    options_node="DVCogVideoXOptions",
    comfy_latent_format=None,  # ComfyUI 0.3.64 has no CogVideoX latent format: no previews
    defaults={
        "num_frames": 49,
        "fps": 8,
        "steps": 50,
        "guidance_scale": 6.0,
        "width": 720,
        "height": 480,
        "max_sequence_length": 226,
    },
    notes="CogVideoX 1.5 pads an odd number of latent frames to its temporal patch size; the padding is "
    "generated and dropped before decoding.",
)
