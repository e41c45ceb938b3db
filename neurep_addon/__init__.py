"""NeuRep: complete incomplete 3D scans with neural signed-distance fields.

``core`` is pure numpy/torch and never imports bpy; ``blender`` is the Blender layer around it.
"""
