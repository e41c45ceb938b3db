"""NeuRep's Blender layer: scene objects in, completed mesh objects out, around the pure ``core``.

    scene_io      selected objects <-> numpy (foreach_get/set), result and preview objects
    requests      the selection or files -> one request per fit, snapshotted on the main thread
    run           the requests' jobs one after another: waited for, or ticked by a modal timer
    placing       finished results -> new objects (one undo step), and their summaries
    operators     Complete, Complete Files, Cancel, Install PyTorch, Cancel Install, Train Prior, Remove Prior
    priors        the user's priors: trained from a collection in the worker process, listed in the Prior menu
    props         settings;  ui  sidebar panel;  prefs  preferences
    hole_list     the holes Fill Holes will find, listed in the panel before a run
    batch         complete objects inside a .blend file (scripts/complete.py --blend)

A fit runs in a process of its own through ``jobs.job``; PyTorch is found and installed by ``setup``.
Importing this package imports nothing of Blender; ``register`` loads the rest.
"""


def _classes():
    from . import operators, prefs, props, ui

    return props.CLASSES + prefs.CLASSES + operators.CLASSES + ui.CLASSES


def _handlers() -> list:
    from . import hole_list, run

    return [*run.HANDLERS.items(), *hole_list.HANDLERS.items()]


def _describe_in_one_line(cls) -> None:
    """An operator's or panel's tooltip from its docstring, on one line: Blender would show the docstring's
    line breaks as they are."""
    import bpy

    if issubclass(cls, (bpy.types.Operator, bpy.types.Panel, bpy.types.Menu)) and cls.__doc__ and \
            "bl_description" not in cls.__dict__:
        cls.bl_description = " ".join(cls.__doc__.split())


def register() -> None:
    import bpy

    from . import props, ui

    for cls in _classes():
        _describe_in_one_line(cls)
        bpy.utils.register_class(cls)
    props.register_properties()
    ui.register_menus()
    for name, handler in _handlers():
        getattr(bpy.app.handlers, name).append(handler)


def unregister() -> None:
    import bpy

    from ..jobs import job
    from ..setup import install
    from . import priors, props, run, ui

    run.stop_running_fit()
    priors.stop_training()
    job.end_idle_worker()
    install.stop()
    for name, handler in _handlers():
        if handler in getattr(bpy.app.handlers, name):
            getattr(bpy.app.handlers, name).remove(handler)
    ui.unregister_menus()
    props.unregister_properties()
    for cls in reversed(_classes()):
        bpy.utils.unregister_class(cls)
