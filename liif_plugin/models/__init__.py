"""Model zoo: encoders, the MLP and the LIIF decoder, built by name from a spec.

Module and attribute names mirror the keys of the authors' checkpoints so their
state dicts load with ``strict=True``.
"""
from .registry import make, register, known

# Importing the modules registers their builders.
from . import edsr, rdn, mlp, liif  # noqa: F401,E402

__all__ = ["make", "register", "known"]
