"""The README's node reference, generated from the node classes so it cannot drift from the code.

`python -m diffusers_video.runner.node_reference --write README.md` rewrites the section between the
markers; tests/test_docs.py fails when the README and the code disagree.
"""

from __future__ import annotations

import argparse
import sys

START = "<!-- node-reference:start -->"
END = "<!-- node-reference:end -->"


def _type_name(spec: tuple) -> str:
    return "combo" if isinstance(spec[0], list) else spec[0]


def _default(spec: tuple) -> str:
    options = spec[1] if len(spec) > 1 else {}
    if "default" in options:
        return f"`{options['default']!r}`" if isinstance(options["default"], str) else f"`{options['default']}`"
    if isinstance(spec[0], list):
        return "first entry"  # model listings depend on the machine, so the reference never shows them
    return ""


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render(node_classes: dict[str, type]) -> str:
    lines = [START, ""]
    by_category: dict[str, list[str]] = {}
    for node_id, cls in node_classes.items():
        by_category.setdefault(cls.CATEGORY, []).append(node_id)
    for category in sorted(by_category):
        lines += [f"#### {category}", ""]
        for node_id in by_category[category]:
            cls = node_classes[node_id]
            lines += [f"**{node_id}** ({cls.DISPLAY_NAME}): {_cell(cls.DESCRIPTION)}", ""]
            lines += ["| input | type | default | what it does |", "|---|---|---|---|"]
            types = cls.INPUT_TYPES()
            for section in ("required", "optional"):
                for name, spec in types.get(section, {}).items():
                    label = name if section == "required" else f"{name} (optional)"
                    tooltip = spec[1].get("tooltip", "") if len(spec) > 1 else ""
                    lines.append(f"| {label} | {_type_name(spec)} | {_default(spec)} | {_cell(tooltip)} |")
            names = getattr(cls, "RETURN_NAMES", None) or cls.RETURN_TYPES
            tips = getattr(cls, "OUTPUT_TOOLTIPS", ("",) * len(cls.RETURN_TYPES))
            rows = zip(names, cls.RETURN_TYPES, tips, strict=False)
            outputs = "; ".join(f"`{n}` ({t}): {_cell(tip)}" for n, t, tip in rows)
            lines += ["", f"Outputs: {outputs or 'none (writes files)'}", ""]
    lines.append(END)
    return "\n".join(lines)


def replace_section(document: str, section: str) -> str:
    start, end = document.index(START), document.index(END) + len(END)
    return document[:start] + section + document[end:]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--write", metavar="README", help="rewrite the node reference section of this file")
    args = parser.parse_args(argv)
    from .. import NODE_CLASS_MAPPINGS

    section = render(NODE_CLASS_MAPPINGS)
    if args.write:
        with open(args.write, encoding="utf-8") as f:
            document = f.read()
        with open(args.write, "w", encoding="utf-8") as f:
            f.write(replace_section(document, section))
    else:
        sys.stdout.write(section + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
