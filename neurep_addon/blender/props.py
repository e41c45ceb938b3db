"""Fit settings (shared by the operator and the panel) and the window manager's view of a running job."""

from __future__ import annotations


import bpy
from bpy.props import BoolProperty, EnumProperty, FloatProperty, IntProperty, PointerProperty, StringProperty

from ..core.config import KEEP_OPEN_CHOICES, PRESETS, SETTINGS, SYMMETRY_CHOICES
from ..jobs.kinds import Mode
from ..jobs.wording import device_items
from . import priors


SKIP_SAVE = {"SKIP_SAVE"}
SETTING_NAMES = ("mode", "preset", "prior", "prior_path", "encoding", "steps", "resolution", "device", "seed",
                 "symmetry", "merge_selected", "mark_invented", "invented_spacing", "keep_open", "max_hole_size",
                 "max_hole_percent", "only_selected_holes")
SYMMETRY_WORDS = {"off": ("Off", "No mirror symmetry"),
                  "auto": ("Auto", "Detect a mirror plane in the scan; used only when the scan supports it "
                                   "(not by Fill Holes)")}
SYMMETRY_ITEMS = [(choice.upper(), *SYMMETRY_WORDS.get(choice, (
    choice.upper(), f"Mirror across the plane normal to {choice.upper()} through the scan's bounding-box centre "
                    "(world axes for Complete, the object's own axes for Fill Holes)"))) for choice in SYMMETRY_CHOICES]
"""The panel's Symmetry choices; the lower-cased key is ``FitConfig.symmetry``."""
KEEP_OPEN_WORDS = {"largest": ("Largest", "Leave the largest hole open (a scan's border, a statue's base); a mesh "
                                          "with one hole keeps it"),
                   "planar": ("Planar Cuts", "Leave open every planar cut: a flat opening the surface meets at an "
                                             "angle, as a cut plane leaves it"),
                   "none": ("None", "Close every hole")}
KEEP_OPEN_ITEMS = [(choice.upper(), *KEEP_OPEN_WORDS[choice]) for choice in KEEP_OPEN_CHOICES]
"""The panel's Keep Open choices; the lower-cased key is ``FitConfig.keep_open``."""
BLENDER_INT_MAX = 2**31 - 1
"""Blender's integer properties are 32-bit."""
PRESET_VALUE = " (0 = the preset's)"
ENCODING_LABELS = {"siren": "SIREN", "fourier": "Fourier", "relu": "ReLU"}
"""How the panel spells each ``FitConfig.encoding``."""
ENCODING_ITEMS = [(name, ENCODING_LABELS.get(name, name.title()), f"{ENCODING_LABELS.get(name, name.title())} network")
                  for name in SETTINGS["encoding"].choices]


def label(name: str) -> str:
    """The panel's name of the core setting ``name`` (``config.SETTINGS``)."""
    return SETTINGS[name].label


def tooltip(name: str, more: str = "") -> str:
    """The help of the core setting ``name`` as a tooltip: a sentence, then ``more``."""
    help_text = " ".join(SETTINGS[name].help.split())  # one line: Blender shows a description's breaks
    return help_text[0].upper() + help_text[1:] + more


def preset_override(name: str) -> IntProperty:
    """The whole-number config field ``name`` as the panel sets it: 0 keeps the preset's value, else the field's
    bounds apply (its upper bound is the property's)."""
    return IntProperty(name=label(name), description=tooltip(name, PRESET_VALUE), options=SKIP_SAVE, default=0,
                       min=0, max=int(SETTINGS[name].high))


class FitSettings:
    """Mixin: the per-run settings, as operator properties (redo panel, presets, scripting) and on the scene.

    The operator does not remember its last values (SKIP_SAVE): it takes the panel's settings (saved in the
    .blend) for every one the caller does not give, from the UI, a script or background mode alike.
    """

    mode: EnumProperty(
        name="Mode", options=SKIP_SAVE, default=Mode.COMPLETE.name,
        items=[(Mode.COMPLETE.name, "Complete", "A new closed mesh fitted to the scan (meshes and point clouds)"),
               (Mode.FILL_HOLES.name, "Fill Holes", "Keep the mesh exactly (UVs, colours, materials) and add "
                                                    "patches only where it is open (meshes with faces)")],
        description="Complete: a new closed mesh; Fill Holes: a copy of the mesh with its holes closed")
    preset: EnumProperty(
        name=label("preset"), description=tooltip("preset"), options=SKIP_SAVE,
        items=[(name, name.title(), f"{config.steps} steps, resolution {config.resolution}")
               for name, config in PRESETS.items()],
        default="default")
    prior: EnumProperty(
        options=SKIP_SAVE, name=label("prior"), description=tooltip("prior"),
        items=priors.menu_items, default=priors.FIXED_VALUES["DEFAULT"])
    prior_path: StringProperty(name="Prior File", description="A NeuRep prior file", subtype="FILE_PATH",
                               options=SKIP_SAVE)
    encoding: EnumProperty(
        options=SKIP_SAVE, name=label("encoding"), description=tooltip("encoding"),
        items=[("PRESET", "From Prior/Preset", "The prior's network, or SIREN without a prior")]
        + ENCODING_ITEMS,
        default="PRESET")
    steps: preset_override("steps")
    resolution: preset_override("resolution")
    device: EnumProperty(
        options=SKIP_SAVE, name=label("device"), description=tooltip("device"),
        items=[("PREFERENCES", "From Preferences", "The device chosen in the add-on preferences"),
               *device_items()],
        default="PREFERENCES")
    seed: IntProperty(name=label("seed"), description=tooltip("seed"), default=0, options=SKIP_SAVE,
                      min=int(SETTINGS["seed"].low), max=min(int(SETTINGS["seed"].high), BLENDER_INT_MAX))
    symmetry: EnumProperty(
        name=label("symmetry"), options=SKIP_SAVE, items=SYMMETRY_ITEMS,
        default=PRESETS["default"].symmetry.upper(),
        description=tooltip("symmetry", "; the scan's mirror image fills in what one side did not see"))
    max_hole_size: FloatProperty(
        name=label("max_hole_size"), options=SKIP_SAVE, default=0.0, min=0.0, soft_max=100.0, subtype="DISTANCE",
        description=tooltip("max_hole_size", " (the object's own, local, units; 0 = no limit)"))
    keep_open: EnumProperty(
        name=label("keep_open"), options=SKIP_SAVE, default=PRESETS["default"].keep_open.upper(),
        items=KEEP_OPEN_ITEMS,
        description=tooltip("keep_open"))
    max_hole_percent: FloatProperty(
        name=label("max_hole_percent"), options=SKIP_SAVE, default=PRESETS["default"].max_hole_percent,
        min=SETTINGS["max_hole_percent"].low, max=SETTINGS["max_hole_percent"].high, soft_min=1.0,
        subtype="PERCENTAGE", precision=1, description=tooltip("max_hole_percent"))
    only_selected_holes: BoolProperty(
        name="Only Selected Holes", options=SKIP_SAVE, default=False,
        description="Fill Holes: close only the holes that touch a vertex selected in Edit Mode, whatever Keep "
                    "Open says")
    merge_selected: BoolProperty(
        name="Merge Selected into One Fit", options=SKIP_SAVE, default=False,
        description="Fit all selected objects together (several scan passes of one object) into one result; "
                    "off: one result per selected object")
    mark_invented: BoolProperty(
        name="Mark Invented Region", options=SKIP_SAVE, default=True,
        description="Give the faces NeuRep invented (far from the scan) a second material, "
                    "'NeuRep: invented', so they can be selected, deleted or painted")
    invented_spacing: FloatProperty(
        name="Invented Beyond", options=SKIP_SAVE, default=4.0, min=0.5, max=1000.0, soft_max=50.0,
        description="A face is invented when it lies farther from the scan than this many times the scan's "
                    "point spacing (never less than one grid cell)")

    @property
    def chosen_mode(self) -> Mode:
        """``mode`` as a ``Mode`` (its identifier is the member's name)."""
        return Mode[self.mode]

    def fit_settings(self):
        """(core FitConfig, the chosen prior files, checked by their headers: the worker loads them); raises
        ``ConfigError``/``PriorError`` with a user-facing message. Imports no torch."""
        from ..core.fit_settings import plan

        return plan(self.preset, self.prior_spec(),
                        encoding=None if self.encoding == "PRESET" else self.encoding,
                        steps=self.steps or None, resolution=self.resolution or None,
                        symmetry=self.symmetry.lower(), keep_open=self.keep_open.lower(),
                        max_hole_percent=self.max_hole_percent)

    def prior_spec(self) -> str | list[str]:
        """What ``fit_settings.plan`` reads: "default", "none", or a list of one file (taken whole: its name
        may hold a comma). Raises ``ConfigError`` when no file is chosen or the chosen prior was removed."""
        from ..core.errors import ConfigError

        if self.prior in ("DEFAULT", "NONE"):
            return self.prior.lower()
        if self.prior == "FILE":
            if not self.prior_path:
                raise ConfigError("prior", "is set to File but no prior file is chosen")
            return [bpy.path.abspath(self.prior_path)]
        path = priors.path_of(self.prior)
        if path is None or not path.is_file():
            raise ConfigError("prior", "names a prior that was removed; choose another one")
        return [str(path)]

    def take_unset_settings_from(self, other: "FitSettings") -> None:
        """Operator only: fill the settings the caller did not give from ``other`` (the panel's); raises
        ``ConfigError`` when its prior was removed."""
        from ..core.errors import ConfigError

        for name in SETTING_NAMES:
            if not self.properties.is_property_set(name):
                if getattr(other, name) == "" and other.bl_rna.properties[name].type == "ENUM":
                    # an enum whose stored value left its menu: a removed prior
                    raise ConfigError(name, "names a prior that was removed; choose another one")
                setattr(self, name, getattr(other, name))

class NEUREP_PG_settings(FitSettings, bpy.types.PropertyGroup):
    """The panel's settings, saved with the .blend file."""


class NEUREP_PG_training(bpy.types.PropertyGroup):
    """The Train Prior settings, saved with the .blend file."""

    collection: PointerProperty(
        type=bpy.types.Collection, name="Collection",
        description="The complete models to learn from (empty: the active collection); objects in its child "
                    "collections count too")
    prior_name: StringProperty(
        name="Name", description="The new prior's name in the Prior menu (empty: the collection's name)")
    minutes: FloatProperty(name="Minutes", default=10.0, min=0.05, soft_max=60.0, max=24 * 60.0,
                           description="Training time budget (wall clock); the best prior found is kept")

    def chosen_collection(self, context):
        return self.collection or context.collection

    def chosen_name(self, context) -> str:
        collection = self.chosen_collection(context)
        return self.prior_name.strip() or (collection.name if collection is not None else "")


class NEUREP_PG_job(bpy.types.PropertyGroup):
    """What the panel and status bar show about the running or last job (runtime, not undone)."""

    progress: FloatProperty(name="Progress", min=0.0, max=1.0, subtype="FACTOR")
    status: StringProperty(name="Status")
    last_result: StringProperty(name="Last Result", description="JSON of the last completion's figures")


CLASSES = (NEUREP_PG_settings, NEUREP_PG_training, NEUREP_PG_job)


def register_properties() -> None:
    bpy.types.Scene.neurep_settings = PointerProperty(type=NEUREP_PG_settings)
    bpy.types.Scene.neurep_training = PointerProperty(type=NEUREP_PG_training)
    bpy.types.WindowManager.neurep_job = PointerProperty(type=NEUREP_PG_job)
    bpy.types.WindowManager.neurep_training_job = PointerProperty(type=NEUREP_PG_job)


def unregister_properties() -> None:
    del bpy.types.WindowManager.neurep_training_job
    del bpy.types.WindowManager.neurep_job
    del bpy.types.Scene.neurep_training
    del bpy.types.Scene.neurep_settings
