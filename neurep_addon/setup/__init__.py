"""The core's dependencies: which are importable, which PyTorch build fits this machine, pip's command, and
pip run in a background process. Never imports ``bpy`` or torch at import time, so the command line uses it
in plain Python.

    dependencies  is PyTorch importable, which build fits this machine, pip's command, the site-packages
    install       pip in a background process: progress, cancel, one at a time
    package       the extension's package name
"""
