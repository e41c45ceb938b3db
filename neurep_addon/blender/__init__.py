"""NeuRep's Blender layer: scene objects in, completed mesh objects out, around the pure ``core``.

    scene_io      selected objects <-> numpy (foreach_get/set), result and preview objects
    job           a fit in a process of its own (core.worker); a connection back to the main thread
    fitting       main-thread steps shared by the operators (blocking and modal) and the batch mode
    operators     Complete, Complete Files, Cancel, Install PyTorch, Cancel Install
    props         settings;  ui  sidebar panel;  prefs  preferences
    dependencies  is PyTorch importable, which build fits this machine, pip's command (no bpy needed)
    install       pip in a background process: progress, cancel, one at a time (no bpy)
    package       the extension's package name, and core errors in the panel's words
    batch         complete objects inside a .blend file (scripts/complete.py --blend)

Importing this package imports nothing of Blender (``scripts/complete.py`` uses ``dependencies`` in plain
Python); ``register`` loads the rest.
"""


def _classes():
    from . import operators, prefs, props, ui

    return props.CLASSES + prefs.CLASSES + operators.CLASSES + ui.CLASSES


def register() -> None:
    import bpy

    from . import fitting, props, ui

    for cls in _classes():
        bpy.utils.register_class(cls)
    props.register_properties()
    ui.register_menus()
    for name, handler in fitting.HANDLERS.items():
        getattr(bpy.app.handlers, name).append(handler)


def unregister() -> None:
    import bpy

    from . import fitting, install, job, props, ui

    fitting.stop_running_fit()
    job.end_idle_worker()
    install.stop()
    for name, handler in fitting.HANDLERS.items():
        if handler in getattr(bpy.app.handlers, name):
            getattr(bpy.app.handlers, name).remove(handler)
    ui.unregister_menus()
    props.unregister_properties()
    for cls in reversed(_classes()):
        bpy.utils.unregister_class(cls)
