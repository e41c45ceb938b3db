"""Settings declared once (``core.config.Setting``): each field's bounds or choices are what its check refuses."""

import dataclasses
import math
import re

import pytest

from neurep_addon.core.config import (PRESETS, RUN_SETTINGS, SETTINGS, FitConfig, NetworkConfig, Setting, flag,
                                      preset, settings_of)
from neurep_addon.core.errors import ConfigError

FIELDS = {**settings_of(FitConfig), **settings_of(NetworkConfig)}


def config_with(name: str, value):
    return FitConfig().replace(**{name: value})


def just_past(bound, declared: Setting, direction: int):
    """The nearest value beyond ``bound`` (one for whole-number settings)."""
    if isinstance(bound, int) and not (declared.low_open or declared.high_open):
        return bound + direction
    return math.nextafter(float(bound), direction * math.inf)


@pytest.mark.parametrize("name", FIELDS)
def test_every_field_takes_its_default_and_its_bounds_and_refuses_what_lies_past_them(name):
    declared = FIELDS[name]
    default = {f.name: f.default for c in (FitConfig, NetworkConfig) for f in dataclasses.fields(c)}[name]
    assert declared.problem(default) is None
    if declared.choices:
        assert {getattr(config_with(name, choice), name) if name in settings_of(FitConfig)
                else getattr(config_with(name, choice).network, name) for choice in declared.choices} \
            == set(declared.choices)
        with pytest.raises(ConfigError, match="is unknown; choose one of") as caught:
            config_with(name, "no-such-value")
        assert caught.value.setting == name
        return
    for bound, is_open, direction in ((declared.low, declared.low_open, -1), (declared.high, declared.high_open, 1)):
        if bound is None:
            continue
        if not is_open:
            config_with(name, bound)
        refused = bound if is_open else just_past(bound, declared, direction)
        with pytest.raises(ConfigError, match=f"must be {re.escape(declared.bounds)}") as caught:
            config_with(name, refused)
        assert caught.value.setting == name
    with pytest.raises(ConfigError):
        config_with(name, math.nan)


def test_the_bounds_are_worded_as_the_messages_say_them():
    assert Setting("A", "a", low=16, high=1024).bounds == "between 16 and 1024"
    assert Setting("A", "a", low=0, low_open=True, high=1).bounds == "in (0, 1]"
    assert Setting("A", "a", low=0, high=1, high_open=True).bounds == "in [0, 1)"
    assert Setting("A", "a", low=0, low_open=True).bounds == "positive"
    assert Setting("A", "a", low=1024).bounds == "at least 1024"
    assert Setting("A", "a", low=0).problem(-1) == "must be at least 0, got -1"


def test_every_setting_has_a_label_and_help_and_the_flags_follow_the_names():
    assert set(RUN_SETTINGS) <= set(SETTINGS) and set(FIELDS) <= set(SETTINGS)
    assert all(declared.label and declared.help for declared in SETTINGS.values())
    assert len({declared.label for declared in SETTINGS.values()}) == len(SETTINGS)
    assert flag("points_per_step") == "--points-per-step"
    assert RUN_SETTINGS["preset"].choices == tuple(PRESETS)
    with pytest.raises(ConfigError, match="'slow' is unknown; choose one of fast, default, quality"):
        preset("slow")
