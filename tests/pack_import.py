"""Import the repository the way ComfyUI imports a custom node: by file path, under an arbitrary name."""

from __future__ import annotations

import importlib.util
import os
import sys
from types import ModuleType

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def import_pack_by_path(module_name: str = "ComfyUI-DiffusersVideo-under-test") -> ModuleType:
    spec = importlib.util.spec_from_file_location(module_name, os.path.join(REPO, "__init__.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module
