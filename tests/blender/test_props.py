"""The panel's settings (``blender.props``) against their config fields (``core.config.SETTINGS``): the same
name, default and range, so that a setting is declared once."""

from __future__ import annotations

import dataclasses

import bpy

from .conftest import addon_module

FROM_PRESET = {"steps", "resolution"}
"""Whole-number fields whose panel value 0 keeps the preset's."""
PANEL_ONLY_ITEMS = {"encoding": {"PRESET"}, "device": {"PREFERENCES"}}
"""Enum items of the panel that stand for no config value (from the prior, the preset or the preferences)."""


def test_every_panel_field_matches_its_config_field(addon):
    config = addon_module("core.config")
    properties = bpy.context.scene.neurep_settings.bl_rna.properties
    fields = {f.name: f for c in (config.FitConfig, config.NetworkConfig) for f in dataclasses.fields(c)}
    shown = [name for name in config.SETTINGS if name in properties]
    assert {"preset", "prior", "encoding", "steps", "resolution", "device", "seed", "symmetry",
            "max_hole_size", "keep_open", "max_hole_percent"} <= set(shown)
    for name in shown:
        declared, prop = config.SETTINGS[name], properties[name]
        assert prop.name == declared.label, name
        assert prop.description.lower().startswith(declared.help.lower()), name
        if prop.type == "ENUM":
            values = {item.identifier for item in prop.enum_items} - PANEL_ONLY_ITEMS.get(name, set())
            if declared.choices:
                assert {value.lower() for value in values} == set(declared.choices), name
            if name in fields and prop.default not in PANEL_ONLY_ITEMS.get(name, ()):
                assert prop.default.lower() == fields[name].default, name
        elif name in FROM_PRESET:
            assert (prop.default, prop.hard_min, prop.hard_max) == (0, 0, declared.high), name
            config.FitConfig().replace(**{name: prop.hard_max})  # the panel's largest value is the config's
        elif prop.type == "INT":
            assert prop.default == 0 and prop.hard_min == declared.low and prop.hard_max <= declared.high, name
        elif prop.type == "FLOAT" and name in fields:  # the field's default and bounds
            assert (prop.default, prop.hard_min, prop.hard_max) == (fields[name].default, declared.low,
                                                                    declared.high), name
        elif prop.type == "FLOAT":  # max hole size: 0 is no limit, any positive size is the config's
            assert (prop.default, prop.hard_min) == (0.0, declared.low) and declared.low_open, name
    assert properties["preset"].default == "default" and properties["symmetry"].default == "AUTO"
    assert properties["keep_open"].default == "LARGEST"
