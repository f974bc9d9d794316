"""Model zoo: encoders, the MLP and the LIIF decoder, built by name from a spec.

Module and attribute names mirror the keys of the authors' checkpoints so their
state dicts load with ``strict=True``.
"""

# Importing the modules registers their builders.
from liif_plugin.models import edsr, liif, mlp, rdn  # noqa: F401
from liif_plugin.models.builders import known, make, register

__all__ = ["make", "register", "known"]
