"""NeuRep as a Blender extension: complete incomplete 3D scans with a neural signed-distance fit.

The repository root is the extension root; the Blender layer lives in ``neurep_addon/blender`` and is
imported only when Blender enables the extension (the command line imports ``neurep_addon`` alone).
"""


def register():
    from .neurep_addon import blender

    blender.register()


def unregister():
    from .neurep_addon import blender

    blender.unregister()
