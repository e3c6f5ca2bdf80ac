"""torch.compile and the attention backend for one model wire, set while DVSampler runs it.

Compilation: `nn.Module.compile` is switched on for the run and off afterwards, so an uncompiled wire of the
same loaded model stays eager. TorchDynamo keeps what it compiled on the code it compiled, with guards on
the shapes and module, so a re-queued run with the same shapes reuses it instead of compiling again.

The attention backend goes through diffusers' dispatcher (`attention_backend`), which the DiTs that call
`dispatch_attention_fn` (Wan, HunyuanVideo, LTX-Video, ...) read; models that call torch's SDPA directly
are not affected, and the node says so.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

from ..errors import DVInputError
from .components import DVModel

COMPILE_MODES = ["default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs"]


@dataclass(frozen=True)
class DVCompileSpec:
    backend: str
    mode: str
    fullgraph: bool
    dynamic: bool


COMPILE_BACKENDS = ["inductor", "eager", "aot_eager", "cudagraphs"]


def compile_backends() -> list[str]:
    """The usual backends, plus any registered with torch._dynamo (list_backends also names ones whose
    packages are missing, so only those registered beyond torch's own are added)."""
    import torch

    registered = set(torch._dynamo.list_backends(exclude_tags=()))
    builtin = {"openxla", "tvm", "onnxrt", "tensorrt", "torch_tensorrt", "ipex", "tvm_meta_schedule"}
    return COMPILE_BACKENDS + sorted(registered - set(COMPILE_BACKENDS) - builtin)


def attention_backends() -> list[str]:
    """The dispatcher's backends whose packages are installed (never the Hub kernels: no downloads here)."""
    from diffusers.models import attention_dispatch

    found = []
    for backend in attention_dispatch.AttentionBackendName:
        if "hub" in backend.value:
            continue
        try:
            attention_dispatch._check_attention_backend_requirements(backend)
        except (RuntimeError, ImportError, ValueError):
            continue
        found.append(backend.value)
    return found


def uses_dispatcher(module) -> bool:
    """Whether the model's attention goes through diffusers' dispatcher (so a backend choice reaches it)."""
    import inspect

    from diffusers.models import attention_dispatch

    for sub in module.modules():
        processor = getattr(sub, "processor", None)
        if processor is None:
            continue
        source_module = inspect.getmodule(type(processor))
        if source_module is not None and "dispatch_attention_fn" in vars(source_module):
            return vars(source_module)["dispatch_attention_fn"] is attention_dispatch.dispatch_attention_fn
    return False


@contextlib.contextmanager
def applied(model: DVModel) -> Iterator[None]:
    with contextlib.ExitStack() as stack:
        if model.attention_backend:
            from diffusers.models.attention_dispatch import attention_backend

            try:
                stack.enter_context(attention_backend(model.attention_backend))
            except (RuntimeError, ImportError, ValueError) as error:
                raise DVInputError("model", f"the attention backend '{model.attention_backend}' cannot run "
                                   f"here ({error}).", "native, or a backend whose package and GPU are present."
                                   ) from error
        if model.compile is not None:
            stack.enter_context(_compiled(model))
        yield


@contextlib.contextmanager
def _compiled(model: DVModel) -> Iterator[None]:
    spec: DVCompileSpec = model.compile
    module = model.module
    options = {"backend": spec.backend, "fullgraph": spec.fullgraph, "dynamic": spec.dynamic}
    if spec.backend == "inductor":
        options["mode"] = spec.mode
    module.compile(**options)
    try:
        yield
    finally:
        module._compiled_call_impl = None  # what nn.Module.compile set: eager again for other wires
