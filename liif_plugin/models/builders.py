"""A tiny name -> builder registry, so a checkpoint's spec says what to build."""

_BUILDERS = {}


def register(name):
    def wrap(builder):
        _BUILDERS[name] = builder
        return builder

    return wrap


def known():
    return sorted(_BUILDERS)


def make(spec):
    """Build the module a spec names: ``{"name": ..., "args": {...}}``."""
    if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
        raise ValueError("a model spec must be a dict with a string 'name'")
    name = spec["name"]
    if name not in _BUILDERS:
        raise ValueError(f"unknown model '{name}'; known models are: {', '.join(known())}")
    args = spec.get("args") or {}
    if not isinstance(args, dict):
        raise ValueError(f"the args of model '{name}' must be a dict")
    return _BUILDERS[name](**args)
