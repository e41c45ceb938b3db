"""Training and evaluation data made by code: shapes (meshes, procedural), partial observations
(virtual depth scans, holes) and meta-learning tasks. Builds on ``neurep_addon.core``, never on ``bpy``."""
