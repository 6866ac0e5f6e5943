"""Build the byte model's pretraining corpus from what any machine of ours can install.

Sources (never ../shared/data/files, which is the benchmark):
- the Django source distribution from PyPI, pinned: several MB of English documentation
  (reStructuredText) and Python source;
- the Python standard library of the running interpreter (source code, docstrings);
- manual pages (roff) and text documentation under /usr/share/man and /usr/share/doc.

The corpus is one file per source in OUT, each a concatenation of files in sorted path order,
so the same machine image and pins give the same bytes; build() returns the SHA-256 of each
(`arzip train-bytes --build-corpus` prints them) so a model card can record exactly what a
model saw.
"""
from __future__ import annotations

import gzip
import hashlib
import subprocess
import sys
import sysconfig
import tarfile
import tempfile
from pathlib import Path

DJANGO = "django==5.1.4"
MAX_FILE = 1 << 20  # skip single files over 1 MiB (generated tables, data dumps)
TEXT_SUFFIXES = {".txt", ".rst", ".py", ".md", ".html", ".c", ".h", ".1", ".5", ".8"}


def _is_text(data: bytes) -> bool:
    return len(data) > 0 and b"\x00" not in data[:4096]


def _django_docs(out: Path, workdir: Path) -> bytes:
    subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary",
                    ":all:", DJANGO, "-d", str(workdir)], check=True)
    archive = next(workdir.glob("*.tar.gz"))
    parts = []
    with tarfile.open(archive) as tar:
        for member in sorted(tar.getmembers(), key=lambda m: m.name):
            if member.isfile() and Path(member.name).suffix in TEXT_SUFFIXES and member.size <= MAX_FILE:
                data = tar.extractfile(member).read()
                if _is_text(data):
                    parts.append(data)
    return b"\n".join(parts)


def _tree(root: Path, suffixes: set[str] | None, gz: bool = False) -> bytes:
    parts = []
    for path in sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink()):
        if "test" in path.parts or "site-packages" in path.parts:
            continue
        try:
            if gz and path.suffix == ".gz":
                data = gzip.decompress(path.read_bytes())
            elif suffixes is None or path.suffix in suffixes:
                data = path.read_bytes()
            else:
                continue
        except (OSError, EOFError, gzip.BadGzipFile):
            continue
        if len(data) <= MAX_FILE and _is_text(data):
            parts.append(data)
    return b"\n".join(parts)


def build(out: Path) -> dict[str, str]:
    """Write the corpus files into out; return {file name: sha256}."""
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        sources = {
            "django.txt": lambda: _django_docs(out, Path(tmp)),
            "python-stdlib.txt": lambda: _tree(Path(sysconfig.get_paths()["stdlib"]), {".py"}),
            "man.txt": lambda: _tree(Path("/usr/share/man/man1"), None, gz=True)
            + _tree(Path("/usr/share/man/man5"), None, gz=True)
            + _tree(Path("/usr/share/man/man8"), None, gz=True),
            "doc.txt": lambda: _tree(Path("/usr/share/doc"), None, gz=True),
        }
        hashes = {}
        for name, make in sources.items():
            data = make()
            (out / name).write_bytes(data)
            hashes[name] = hashlib.sha256(data).hexdigest()
    return hashes
