"""The kinds of file people keep, made from data this venv ships: bench/files.py's second table.

Why: the Canterbury corpus is mostly text; issue 28 asks how the byte path does on databases,
tables, structured text, logs, source archives, executables, documents and raw sensor data.
Every file here is made from something installed with the bench extras or from a fixed
recipe, so anyone can make the same set (the MANIFEST records each file's SHA-256 and source;
package versions can change a file, and the manifest then says so):

- `stocks.csv`: matplotlib's sample Stocks.csv (real daily prices, a CSV table);
- `eeg.dat`, `membrane.dat`: matplotlib's sample raw recordings (16-bit EEG samples, float
  samples of a membrane potential);
- `mri.ima`: matplotlib's sample MRI slice (s1045.ima.gz decompressed: raw 16-bit samples);
- `modules.sqlite`: a SQLite database of numpy's Python modules (path, size, lines, first
  docstring line, SHA-1), with an index (numpy, not the standard library, whose text the byte
  network was trained on);
- `modules.json`: the same records as JSON (one object per module, indented);
- `access.log`: 1 MB of web-server access lines in the combined log format, drawn from a
  seeded generator (addresses, paths, agents and sizes from small fixed vocabularies);
- `numba-src.tar`: the first MiB of an uncompressed tar of numba's Python sources (name order,
  mtime 0, root owner);
- `multiarray.so`: the first MiB of numpy's compiled core (an x86-64 ELF shared object);
- `plot.pdf`: a PDF of three matplotlib plots (its streams deflated, as PDFs are).

Neither these files nor the Canterbury corpus are used to tune the models (the byte path's
development set is described in models/EXPERIMENTS.md, B1-B11).

    python bench/file_kinds.py [--out bench/.cache/file-kinds]
"""
from __future__ import annotations

import argparse
import gzip
import hashlib
import importlib.metadata
import io
import json
import sqlite3
import tarfile
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
DEFAULT_OUT = HERE / ".cache" / "file-kinds"
MIB = 1 << 20


def _sample(name: str) -> bytes:
    import matplotlib
    return (Path(matplotlib.get_data_path()) / "sample_data" / name).read_bytes()


def _module_records() -> list[dict]:
    """One record per Python module of the installed numpy, in path order."""
    root = Path(np.__file__).parent
    records = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        text = path.read_bytes()
        lines = text.decode("utf-8", "replace").splitlines()
        doc = next((ln.strip().strip('"').strip("'") for ln in lines if ln.strip().startswith(('"""', "'''"))), "")
        records.append({"path": rel, "bytes": len(text), "lines": len(lines), "doc": doc[:120],
                        "sha1": hashlib.sha1(text).hexdigest()})
    return records


def _sqlite(records: list[dict]) -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "modules.sqlite"
        con = sqlite3.connect(db)
        con.execute("CREATE TABLE module (id INTEGER PRIMARY KEY, path TEXT, bytes INTEGER, lines INTEGER, "
                    "doc TEXT, sha1 TEXT)")
        con.executemany("INSERT INTO module (path, bytes, lines, doc, sha1) VALUES (?, ?, ?, ?, ?)",
                        [(r["path"], r["bytes"], r["lines"], r["doc"], r["sha1"]) for r in records])
        con.execute("CREATE INDEX module_sha1 ON module (sha1)")
        con.commit()
        con.close()
        return db.read_bytes()


def _access_log(size: int) -> bytes:
    rng = np.random.default_rng(2026)
    paths = ["/", "/index.html", "/about", "/blog/", "/blog/archive", "/static/site.css", "/static/app.js",
             "/images/logo.png", "/api/v1/items", "/api/v1/items/{}", "/search?q={}", "/login", "/feed.xml"]
    agents = ["Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
              "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36",
              "curl/8.5.0", "Googlebot/2.1 (+http://www.google.com/bot.html)", "python-requests/2.32.3"]
    words = ["jpeg", "lossless", "arzip", "paq", "zstd", "benchmark", "png", "entropy", "model", "mixing"]
    hosts = [f"{rng.integers(1, 224)}.{rng.integers(0, 256)}.{rng.integers(0, 256)}.{rng.integers(1, 255)}"
             for _ in range(300)]
    out, t = io.StringIO(), 1_780_000_000
    months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    while out.tell() < size:
        t += int(rng.exponential(2.0))
        day, sec = divmod(t, 86400)
        path = paths[min(len(paths) - 1, int(rng.zipf(1.6)) - 1)]
        path = path.format(int(rng.integers(1, 5000))) if "{}" in path and "items" in path else \
            path.format(words[rng.integers(0, len(words))])
        status = int(rng.choice([200, 200, 200, 200, 304, 301, 404, 500], p=[.6, .1, .05, .05, .12, .03, .04, .01]))
        size_b = int(rng.integers(200, 90_000)) if status == 200 else (0 if status == 304 else int(rng.integers(100, 900)))
        out.write(f'{hosts[min(299, int(rng.zipf(1.3)) - 1)]} - - [{1 + day % 28:02d}/{months[day // 28 % 12]}/2026:'
                  f'{sec // 3600:02d}:{sec // 60 % 60:02d}:{sec % 60:02d} +0000] "GET {path} HTTP/1.1" {status} {size_b} '
                  f'"-" "{agents[min(4, int(rng.zipf(2.0)) - 1)]}"\n')
    return out.getvalue().encode()[:size]


def _tar_of(package: str, size: int) -> bytes:
    import importlib.util
    root = Path(importlib.util.find_spec(package).origin).parent
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for path in sorted(root.rglob("*.py")):
            info = tar.gettarinfo(str(path), arcname=f"{package}/{path.relative_to(root).as_posix()}")
            info.mtime, info.uid, info.gid, info.uname, info.gname, info.mode = 0, 0, 0, "root", "root", 0o644
            with path.open("rb") as f:
                tar.addfile(info, f)
            if buf.tell() >= size:
                break
    return buf.getvalue()[:size]


def _numpy_core(size: int) -> bytes:
    import importlib
    for name in ("numpy._core._multiarray_umath", "numpy.core._multiarray_umath"):  # numpy 2, then 1
        try:
            path = Path(importlib.import_module(name).__file__)
        except ImportError:
            continue
        if path.suffix in (".so", ".pyd"):
            return path.read_bytes()[:size]
    raise RuntimeError("numpy's compiled core not found")


def _pdf() -> bytes:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.backends.backend_pdf import PdfPages
    rng = np.random.default_rng(7)
    buf = io.BytesIO()
    with PdfPages(buf, metadata={"CreationDate": None, "Creator": "bench/file_kinds.py", "Producer": None}) as pdf:
        for k in range(3):
            fig, ax = plt.subplots(figsize=(6, 4))
            x = np.linspace(0, 10, 400)
            ax.plot(x, np.sin(x * (k + 1)) + 0.1 * rng.standard_normal(x.size), label=f"series {k}")
            ax.scatter(rng.random(60) * 10, rng.random(60) * 2 - 1, s=8)
            ax.set_title(f"bench/file_kinds.py, figure {k + 1}")
            ax.legend()
            pdf.savefig(fig)
            plt.close(fig)
    return buf.getvalue()


def recipes() -> dict[str, tuple[str, Callable[[], bytes]]]:
    records = _module_records()
    return {
        "stocks.csv": ("matplotlib sample_data/Stocks.csv", lambda: _sample("Stocks.csv")),
        "eeg.dat": ("matplotlib sample_data/eeg.dat", lambda: _sample("eeg.dat")),
        "membrane.dat": ("matplotlib sample_data/membrane.dat", lambda: _sample("membrane.dat")),
        "mri.ima": ("matplotlib sample_data/s1045.ima.gz, decompressed", lambda: gzip.decompress(_sample("s1045.ima.gz"))),
        "modules.sqlite": (f"sqlite {sqlite3.sqlite_version}: numpy {np.__version__}'s modules",
                           lambda: _sqlite(records)),
        "modules.json": (f"numpy {np.__version__}'s modules as JSON", lambda: json.dumps(records, indent=1).encode()),
        "access.log": ("seeded generator (2026), combined log format", lambda: _access_log(MIB)),
        "numba-src.tar": (f"numba {importlib.metadata.version('numba')} sources, tar, first MiB",
                          lambda: _tar_of("numba", MIB)),
        "multiarray.so": (f"numpy {np.__version__} _multiarray_umath, first MiB", lambda: _numpy_core(MIB)),
        "plot.pdf": (f"matplotlib {importlib.metadata.version('matplotlib')}: three plots", _pdf),
    }


def make(out: Path = DEFAULT_OUT) -> Path:
    """Write the files and MANIFEST.json into `out` (made again whenever this runs)."""
    out.mkdir(parents=True, exist_ok=True)
    manifest = {}
    for name, (source, recipe) in recipes().items():
        data = recipe()
        (out / name).write_bytes(data)
        manifest[name] = {"source": source, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    (out / "MANIFEST.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = ap.parse_args()
    folder = make(args.out)
    for name, entry in json.loads((folder / "MANIFEST.json").read_text()).items():
        print(f"{name:16s} {entry['bytes']:>9,}  {entry['source']}")


if __name__ == "__main__":
    main()
