"""Long messages as several labels: Blender does not wrap a label's text, it cuts it at the region's edge."""

from __future__ import annotations

import textwrap

FALLBACK_WIDTH = 48
"""Characters per line when the region is unknown (a sidebar at its default width holds about this many)."""
PIXELS_PER_CHARACTER = 7.0
"""An average character of Blender's interface font at UI scale 1 (its labels are proportional)."""
MARGIN_PIXELS = 50
"""The region's width taken by the panel's borders and a label's icon."""


def line_width(context) -> int:
    """Characters that fit on one label in ``context``'s region (``FALLBACK_WIDTH`` without one)."""
    region = getattr(context, "region", None) if context is not None else None
    if region is None or region.width <= 1:
        return FALLBACK_WIDTH
    scale = context.preferences.view.ui_scale if getattr(context, "preferences", None) is not None else 1.0
    return max(20, int((region.width - MARGIN_PIXELS * scale) / (PIXELS_PER_CHARACTER * scale)))


def wrapped_label(layout, text: str, context=None, icon: str = "NONE") -> None:
    """``text`` as one label per line at ``line_width``: the first carries ``icon``, the others are indented
    as far, so the lines read as one message."""
    lines = textwrap.wrap(text, line_width(context)) or [""]
    column = layout.column(align=True)
    for index, line in enumerate(lines):
        column.label(text=line, icon=icon if index == 0 else ("BLANK1" if icon != "NONE" else "NONE"))
