"""CogVideoX (THUDM): text-to-video with a T5 encoder, a DiT and a causal 3D VAE."""

from ..families import Family, FrameRule, LatentGeometry

FAMILY = Family(
    id="cogvideox",
    label="CogVideoX",
    pipeline_classes={"t2v": "CogVideoXPipeline"},
    model_classes=("CogVideoXTransformer3DModel",),
    vae_classes=("AutoencoderKLCogVideoX",),
    text_encoder_classes=("T5EncoderModel",),
    frame_rule=FrameRule(multiple=4, offset=1),
    size_multiple=16,
    geometry=LatentGeometry(spatial=8, temporal=4, channels=16, scaling_factor=1.15258426),
    glue="cogvideox",
    order=10,
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
