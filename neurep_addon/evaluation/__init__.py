"""The evaluation suite: metrics, the screened-Poisson baseline and the benchmark cases. Research code:
not shipped in the extension zip, never imported by the engine."""
