"""Where the extension lives in Blender: its package name.

Imports nothing of the add-on, so every module can import it.
"""

from __future__ import annotations

ADDON_PACKAGE = __package__.rpartition(".neurep_addon")[0]
"""The extension's package, e.g. ``bl_ext.user_default.neurep``; empty outside Blender's extension system."""
