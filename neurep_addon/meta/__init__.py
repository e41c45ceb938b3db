"""Meta-learning of priors (MetaSDF, Reptile) on tasks from ``neurep_addon.tasks``; uses the engine in
``neurep_addon.core`` and is never needed to complete a scan."""
