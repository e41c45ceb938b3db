"""The use-case layer between the engine (``core``) and the front ends (command line, Blender): what a user
asks for, what its results are called and how they are worded. Never imports ``bpy``."""
