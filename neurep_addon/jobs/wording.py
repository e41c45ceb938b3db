"""How a result is said, in the terminal, in Blender's reports and in the panel: one wording for each figure.

Every function takes the figures of one result as a dict: ``core`` stats (``CompletionStats.to_dict``, and
for a fill ``holes_closed``, ``holes_left_open``, ``added_faces``, ``added_area`` and ``holes``, each hole's
``Hole.to_dict``), optionally ``invented_faces`` and ``notes``; ``symmetry`` takes the mirror plane read from them once (``PlaneUsed``).
Blender's menus and reports also word the devices and the core's errors
here (``device_items``, ``user_message``).
"""

from __future__ import annotations

from dataclasses import dataclass


def seconds(stats: dict) -> float:
    """The whole run's time: every phase's seconds."""
    return sum(stats["seconds"].values())


def observed(stats: dict) -> str:
    return f"{stats['points']:,} points ({stats['normals']} normals)"


def size(stats: dict) -> str:
    return f"{stats['vertices']:,} vertices, {stats['faces']:,} faces"


def closure(stats: dict) -> str:
    return f"{stats['components']} part(s), {'closed' if stats['watertight'] else 'NOT closed'}"


def holes(stats: dict) -> str:
    """A fill's holes closed, left open and the area added."""
    return (f"{stats['holes_closed']} hole(s) closed, {stats['holes_left_open']} left open, "
            f"{stats['added_faces']:,} faces added ({stats['added_area']:.4g} square units)")


HOLES_LISTED = 10
"""Holes listed one by one, largest first; the rest are counted."""


def hole_size(hole: dict) -> str:
    """A hole's size: its edges, its bounding-box diagonal in the mesh's units and as a share of the mesh's."""
    return f"{hole['edges']} edges, {hole['size']:.3g} across ({100 * hole['share']:.0f}% of the mesh)"


def hole_fate(hole: dict, planned: bool = False) -> str:
    """What became of a hole (``planned``: what a run will do with it, for the list before the run)."""
    if hole["reason"]:
        return f"{'stays' if planned else 'left'} open: {hole['reason']}"
    if planned:
        return "to fill"
    return f"closed ({hole['added_faces']:,} faces)"


def hole_lines(holes: list[dict], planned: bool = False) -> list[str]:
    """The holes of a fill (``Hole.to_dict``), largest first, each with its fate; past ``HOLES_LISTED``, a count."""
    ordered = sorted(holes, key=lambda hole: -hole["size"])
    lines = [f"hole {index + 1} of {len(ordered)}: {hole_size(hole)}: {hole_fate(hole, planned)}"
             for index, hole in enumerate(ordered[:HOLES_LISTED])]
    rest = ordered[HOLES_LISTED:]
    if rest:
        open_count = sum(bool(hole["reason"]) for hole in rest)
        lines.append(f"and {len(rest)} smaller: {len(rest) - open_count} {'to fill' if planned else 'closed'}, "
                     f"{open_count} {'staying' if planned else 'left'} open")
    return lines


def invented(count: int) -> str:
    return f"{count:,} invented faces"


@dataclass(frozen=True)
class PlaneUsed:
    """The mirror plane a fit used, as its figures record it (``CompletionStats.symmetry``, input units):
    normal [3], offset and confidence, and how many planes across it were used too."""

    normal: tuple[float, float, float]
    offset: float
    confidence: float
    more_planes: int = 0

    @classmethod
    def of(cls, stats: dict) -> "PlaneUsed | None":
        """The plane in ``stats`` (a result's figures), or None when the fit used none."""
        plane = stats.get("symmetry")
        if not plane:
            return None
        return cls(tuple(plane["normal"]), plane["offset"], plane["confidence"], len(plane.get("more_planes", ())))


def symmetry(plane: PlaneUsed) -> str:
    """The mirror plane the fit used."""
    normal = ", ".join(f"{v:.2f}" for v in plane.normal)
    more = f", and {plane.more_planes} plane across it" if plane.more_planes else ""
    return f"mirror plane normal ({normal}), offset {plane.offset:.4g}, confidence {plane.confidence:.2f}{more}"


def fit(stats: dict) -> str:
    """The fit's steps, device and final loss."""
    loss = f", final loss {stats['final_loss']:.4f}" if stats.get("final_loss") is not None else ""
    return f"{stats['steps']} steps on {stats['device']}{loss}"


def phases(stats: dict) -> str:
    return " + ".join(f"{phase} {value:.1f} s" for phase, value in stats["seconds"].items())


def result_line(stats: dict) -> str:
    """One line for a completion or a fill (a fill's holes first)."""
    line = (f"{observed(stats)}, {stats['steps']} steps, {seconds(stats):.1f} s, {size(stats)}, "
            f"{closure(stats)}")
    if "holes_closed" in stats:
        return f"{holes(stats)}; {line}"
    if "invented_faces" in stats:
        line += f", {invented(stats['invented_faces'])}"
    return line


def remarks(stats: dict) -> list[str]:
    """What is said after the result line: the mirror plane used, a fill's holes, then the notes."""
    plane = PlaneUsed.of(stats)
    return (([f"used a {symmetry(plane)}"] if plane else []) + hole_lines(stats.get("holes", ()))
            + list(stats.get("notes", ())))


DEVICE_MENU = {"auto": ("Auto", "CUDA, then Apple MPS, then the CPU"), "cpu": ("CPU", "The processor"),
               "cuda": ("CUDA", "An NVIDIA GPU"), "mps": ("MPS", "Apple silicon GPU")}
"""Label and description of each of the core's devices (``core.config.DEVICES``) in the device menus."""


def device_items() -> list[tuple[str, str, str]]:
    """The items of a device menu: the core's devices, in its order."""
    from ..core.config import DEVICES  # plain Python, no torch

    return [(name, *DEVICE_MENU[name]) for name in DEVICES]


def setting_label(setting: str) -> str:
    """A core setting (``ConfigError.setting``) as the panel labels it (``config.SETTINGS``)."""
    from ..core.config import SETTINGS  # plain Python, no torch

    declared = SETTINGS.get(setting)
    return setting if declared is None else declared.label


def user_message(exc: BaseException) -> str:
    """What a Blender user reads for a core error: a setting is named by its field label, as in the panel."""
    from ..core.errors import ConfigError, NeuRepError

    if isinstance(exc, ConfigError):
        return exc.describe(setting_label(exc.setting))
    if isinstance(exc, NeuRepError):
        return str(exc)
    return f"internal error: {type(exc).__name__}: {exc}"
