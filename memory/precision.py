"""The dtype each component of a model is loaded in: the family's diffusers guide where it says, the device's
best half precision otherwise, and fp32 on CPU.

Rules (`component_dtype`):
- "fp32" / "bf16" / "fp16" as asked; fp16 for the denoiser of a family whose DiT overflows in fp16
  (`Family.fp16_overflows`) comes with a warning that names the risk.
- "auto" on CPU: fp32 for everything (CPU half precision is slow and the parity tests run there in fp32).
- "auto" on a GPU: the family's own default for the role (`Family.component_dtypes`, e.g. Wan's VAE in fp32),
  else bf16 where the device has it, else fp16, except that the denoiser of a family that overflows in fp16
  gets fp32 where bf16 is missing.

Roles are "denoiser", "vae", "text_encoder" (every text encoder of the model), "image_encoder", and the
subfolder name of anything else a folder holds (e.g. "motion_adapter"); `component_dtypes` may give "*" for
every role it does not name.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import DVInputError

if TYPE_CHECKING:
    import torch

    from ..families.spec import Family

CHOICES = ("auto", "fp32", "bf16", "fp16")
DENOISER = "denoiser"
EVERY_ROLE = "*"


def torch_dtype_of(name: str) -> torch.dtype:
    import torch

    return {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[name]


def overflow_warning(family: Family) -> str:
    """What running this family's denoiser in fp16 risks, and what its guide does instead."""
    return (f"{family.label} in fp16 can overflow to NaN frames; its diffusers guide runs it in bf16 (or fp32 "
            "where bf16 is missing).")


def _bf16_supported(device: Any) -> bool:
    import torch

    from .. import host

    return host.default_dtype(device) == torch.bfloat16


def _device_type(device: Any) -> str:
    return str(getattr(device, "type", device)).split(":")[0]


def component_dtype(family: Family | None, role: str, requested: str, device: Any,
                    bf16_supported: bool | None = None, input_name: str = "dtype") -> tuple[torch.dtype, str | None]:
    """(the torch dtype to load the `role` component of a `family` model in, a warning or None).

    requested: a dtype widget's value ("auto", "fp32", "bf16", "fp16"); device: where the model runs
    (host.torch_device()); bf16_supported: whether that device computes in bf16 (None: ask the host, which asks
    ComfyUI inside it)."""
    if requested not in CHOICES:
        raise DVInputError(input_name, f"unknown dtype '{requested}'.", ", ".join(CHOICES) + ".")
    overflows = family is not None and family.fp16_overflows and role == DENOISER
    if requested != "auto":
        warning = overflow_warning(family) if overflows and requested == "fp16" else None  # type: ignore[arg-type]
        return torch_dtype_of(requested), warning
    if _device_type(device) == "cpu":
        return torch_dtype_of("fp32"), None
    if bf16_supported is None:
        bf16_supported = _bf16_supported(device)
    defaults = family.component_dtypes if family is not None else {}
    wanted = defaults.get(role, defaults.get(EVERY_ROLE, "auto"))
    if wanted == "fp32" or wanted == "fp16" or (wanted == "bf16" and bf16_supported):
        return torch_dtype_of(wanted), None
    if bf16_supported:
        return torch_dtype_of("bf16"), None
    return torch_dtype_of("fp32" if overflows else "fp16"), None


def role_of(component: str, denoiser: bool) -> str:
    """The precision role of a pipeline component by its name in model_index.json ("text_encoder_2" is a
    text encoder; "vae", "image_encoder", "motion_adapter", ... are their own) or as the denoiser."""
    if denoiser:
        return DENOISER
    return "text_encoder" if component.startswith("text_encoder") else component
