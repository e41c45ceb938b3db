"""NeuRep's Blender layer: scene objects in, a completed mesh object out, around the pure ``core``.

    scene_io   selected objects <-> numpy (foreach_get/set), result and preview objects
    job        the fit on a worker thread that never touches bpy; a queue back to the main thread
    fitting    main-thread steps shared by the operator (blocking and modal) and the batch mode
    operators  Complete, Cancel, Install PyTorch;  props  settings;  ui  sidebar panel;  prefs  preferences
    package    the extension's package name, and core errors in the panel's words
    batch      complete objects inside a .blend file (scripts/complete.py --blend)
"""

import bpy

from . import fitting, operators, prefs, props, ui

CLASSES = props.CLASSES + prefs.CLASSES + operators.CLASSES + ui.CLASSES


def register() -> None:
    for cls in CLASSES:
        bpy.utils.register_class(cls)
    props.register_properties()
    ui.register_menus()
    bpy.app.handlers.load_pre.append(fitting.stop_before_load)


def unregister() -> None:
    fitting.stop_running_fit()
    if fitting.stop_before_load in bpy.app.handlers.load_pre:
        bpy.app.handlers.load_pre.remove(fitting.stop_before_load)
    ui.unregister_menus()
    props.unregister_properties()
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
