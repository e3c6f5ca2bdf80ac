"""The layout rules that keep families in their own modules and the host seam on the ground floor."""

from __future__ import annotations

import ast
import os

from diffusers_video.families import all_families

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Where naming a family is the point: the families themselves, the tiny model builders, the tests, the
# benchmarks, and the demo that renders one chosen example.
FAMILY_HOMES = ("families", "tiny_models", "tests", "benchmarks", "build", ".venv", os.path.join("runner", "demo.py"),
                # the released models' configs: data about named releases, looked up by family id
                os.path.join("memory", "released.py"))


def _pack_files(skip: tuple[str, ...] = ()) -> list[str]:
    found = []
    for folder, dirs, files in os.walk(ROOT):
        rel = os.path.relpath(folder, ROOT)
        dirs[:] = [d for d in dirs if not d.startswith(".") and d != "__pycache__"
                   and not any(os.path.join(rel, d).lstrip("./").startswith(s) for s in skip)]
        for name in files:
            path = os.path.relpath(os.path.join(folder, name), ROOT)
            if name.endswith(".py") and not any(path.startswith(s) for s in skip):
                found.append(path)
    return found


def test_generic_code_never_tests_a_family_name():
    """Adding a family touches its module: generic code asks the family (Family fields), never its name."""
    ids = {family.id for family in all_families()}
    hits = []
    for path in _pack_files(FAMILY_HOMES):
        with open(os.path.join(ROOT, path), encoding="utf-8") as f:
            tree = ast.parse(f.read())
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and node.value in ids:
                hits.append(f"{path}:{node.lineno}: {node.value!r}")
    assert not hits, "family names in generic code:\n" + "\n".join(hits)


def test_the_host_seam_imports_nothing_of_the_pack_but_the_errors():
    with open(os.path.join(ROOT, "host.py"), encoding="utf-8") as f:
        tree = ast.parse(f.read())
    relative = [(node.lineno, node.module, [a.name for a in node.names]) for node in ast.walk(tree)
                if isinstance(node, ast.ImportFrom) and node.level > 0]
    assert all(module == "errors" for _, module, _ in relative), relative


def test_every_family_module_keeps_the_glue_contract():
    from diffusers_video.families.spec import FamilyGlue

    for family in all_families():
        glue = family.load_glue()
        assert isinstance(glue, FamilyGlue), family.id
        assert glue.FAMILY is family
