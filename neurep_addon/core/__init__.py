"""NeuRep's core: scan completion with neural signed-distance fields. Pure numpy/torch; never imports bpy."""
