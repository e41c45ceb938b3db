"""Write one named section of a Markdown file, leaving the others as they are.

Several benchmark scripts share docs/BENCHMARKS.md; each owns the text between its markers
``<!-- BEGIN name -->`` and ``<!-- END name -->``.
"""

from __future__ import annotations

from pathlib import Path


def write_section(path: str | Path, name: str, markdown: str) -> None:
    """Replace (or append) section ``name`` of ``path`` with ``markdown``."""
    path = Path(path)
    begin, end = f"<!-- BEGIN {name} -->", f"<!-- END {name} -->"
    block = f"{begin}\n{markdown.rstrip()}\n{end}"
    text = path.read_text() if path.exists() else "# NeuRep benchmarks\n\nFigures measured by the scripts in `scripts/`; each section is rewritten by the script named in it.\n"
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        text = head + block + rest.split(end, 1)[1]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    path.write_text(text)
