"""Looking at images: the noise estimate (``noise``), fidelity metrics and the degrade-restore
evaluation (``evaluate``)."""
