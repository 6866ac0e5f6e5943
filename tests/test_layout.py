"""The import rules of docs/ARCHITECTURE.md, checked on the source: which module may import
which, where torch may appear, and that only the CLI talks to the terminal. Every import
counts, those inside functions too."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "arzip"

# What each part of the package may import from arzip (a module's own folder always may).
ALLOWED = {
    "arzip.errors": set(),
    "arzip.container": {"arzip.errors"},
    "arzip.limits": {"arzip.errors"},
    "arzip.coder": set(),
    "arzip.native": set(),
    "arzip.native.build": {"arzip.native", "arzip.api", "arzip.cli"},  # its workload codes every kind of
                                                                        # input; run as a module, it is the CLI's
    "arzip.mixing": {"arzip.native"},
    "arzip.training": set(),
    "arzip.formats": {"arzip.errors", "arzip.limits", "arzip.container", "arzip.native"},
    "arzip.bytes": {"arzip.errors", "arzip.limits", "arzip.container", "arzip.coder", "arzip.native", "arzip.mixing",
                    "arzip.training"},
    "arzip.jpeg": {"arzip.errors", "arzip.limits", "arzip.container", "arzip.native", "arzip.mixing", "arzip.bytes"},
    "arzip.registry": {"arzip.errors", "arzip.bytes", "arzip.image", "arzip.jpeg"},
    "arzip.image": {"arzip.errors", "arzip.limits", "arzip.container", "arzip.coder", "arzip.native", "arzip.mixing",
                    "arzip.registry",
                    "arzip.formats", "arzip.bytes", "arzip.training"},
    "arzip.files": {"arzip.errors"},
    "arzip.api": {"arzip.errors", "arzip.limits", "arzip.container", "arzip.native", "arzip.registry", "arzip.files",
                  "arzip.formats",
                  "arzip.bytes", "arzip.image", "arzip.jpeg"},
    "arzip.explain": {"arzip.errors", "arzip.limits", "arzip.container", "arzip.coder", "arzip.registry", "arzip.formats",
                      "arzip.mixing", "arzip.bytes", "arzip.image", "arzip.api"},
    "arzip.pillow_plugin": {"arzip.errors", "arzip.limits", "arzip.container", "arzip.formats", "arzip.image", "arzip.api"},
    "arzip.many": {"arzip.errors", "arzip.api", "arzip.files"},
    "arzip": {"arzip.api", "arzip.errors", "arzip.formats", "arzip.pillow_plugin"},
    "arzip.cli": {"arzip"},  # anything
}
# Training code: only the CLI's train commands and other training code import it.
TRAINING = {"arzip.training", "arzip.image.model", "arzip.image.train", "arzip.image.export", "arzip.bytes.model",
            "arzip.bytes.train", "arzip.bytes.export", "arzip.bytes.corpus", "arzip.jpeg.train"}
# Modules that never import torch themselves: coding needs none of it. Only training code, the
# GPU form of the image network's matmuls (arzip.image.exact_gpu, for --device cuda), the API's
# check for a GPU and the CLI's training commands import it, on first use.
TORCH_FREE = {"arzip.errors", "arzip.limits", "arzip.container", "arzip.coder", "arzip.native", "arzip.files", "arzip.many", "arzip.registry",
              "arzip.pillow_plugin", "arzip.explain", "arzip.mixing", "arzip.formats",
              "arzip.bytes.archive", "arzip.bytes.codec", "arzip.bytes.container", "arzip.bytes.exact",
              "arzip.bytes.mixer", "arzip.image.container", "arzip.image.planes", "arzip.image.codec",
              "arzip.image.tables", "arzip.image.waves", "arzip.image.neighbourhood", "arzip.image.adaptive",
              "arzip.image.adaptive_steps",
              "arzip.image.mixing_codec", "arzip.image.exact", "arzip.image.predictors", "arzip.image.profiles",
              "arzip.image.pieces", "arzip.image.bilevel", "arzip.image.gray16",
              "arzip.image.depth16", "arzip.image.pixel_parts",
              "arzip.image.indices", "arzip.image.network_parts", "arzip.image.blas", "arzip.jpeg"}
TERMINAL = {"click", "tqdm"}


def _modules() -> dict[str, ast.Module]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = ast.parse(path.read_text(), str(path))
    return out


MODULES = _modules()


def _imports(name: str, tree: ast.Module) -> set[str]:
    """Every module the source imports (relative imports resolved), at any depth."""
    package = name if (PACKAGE.parent / name.replace(".", "/") / "__init__.py").exists() else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[:len(package.split(".")) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            # `from . import x` imports the module x when it is one, else a name of the package
            submodules = {f"{module}.{alias.name}" for alias in node.names} & MODULES.keys()
            found |= submodules | ({module} if len(submodules) < len(node.names) else set())
    return found


def _rule(name: str, table: dict) -> str:
    """The longest key of table that is name or a package holding it."""
    return max((k for k in table if name == k or name.startswith(k + ".")), key=len)


def _part(name: str) -> str:
    return _rule(name, {k: None for k in ALLOWED})


@pytest.mark.parametrize("name", sorted(MODULES))
def test_imports_follow_the_layers(name):
    own = _part(name)
    allowed = ALLOWED[own]
    for imported in _imports(name, MODULES[name]):
        if not imported.startswith("arzip") or own == "arzip.cli":
            continue
        target = _part(imported)
        assert target == own or target in allowed or (own == "arzip" and imported == "arzip"), \
            f"{name} imports {imported}"


@pytest.mark.parametrize("name", sorted(set(MODULES) - TRAINING - {"arzip.cli"}))
def test_coding_never_imports_training_code(name):
    assert not _imports(name, MODULES[name]) & TRAINING


@pytest.mark.parametrize("name", sorted(n for n in MODULES if any(n == t or n.startswith(t + ".") for t in TORCH_FREE)))
def test_no_torch_where_it_is_not_needed(name):
    assert not {m for m in _imports(name, MODULES[name]) if m.split(".")[0] == "torch"}


@pytest.mark.parametrize("name", sorted(set(MODULES) - {"arzip.cli"}))
def test_only_the_cli_talks_to_the_terminal(name):
    tree = MODULES[name]
    assert not {m.split(".")[0] for m in _imports(name, tree)} & TERMINAL
    for node in ast.walk(tree):
        assert not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "print"), \
            f"{name} prints (line {node.lineno})"
        assert not (isinstance(node, ast.Attribute) and node.attr == "stderr"), f"{name} writes to stderr"


def _modules_loaded_by(code: str, prefixes: tuple[str, ...]) -> list[str]:
    result = subprocess.run([sys.executable, "-c", f"import sys; {code}; print(sorted(m for m in sys.modules "
                             f"if m.startswith({prefixes!r})))"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return eval(result.stdout.strip())


def test_the_byte_path_runs_without_torch_or_the_image_model():
    """Coding and decoding a file as bytes loads neither torch nor the image model."""
    code = ("import arzip; blob = arzip.compress(b'hello, bytes ' * 100); "
            "assert arzip.decompress(blob) == b'hello, bytes ' * 100")
    assert _modules_loaded_by(code, ("torch", "arzip.image.exact")) == []


def test_images_are_coded_without_torch():
    """The image networks' exact forms run on numpy and numba: a photo through the default
    level (network and context mixing) and back never imports torch."""
    code = ("import numpy as np, arzip; from skimage import data; x = data.astronaut()[:40, :48]; "
            "assert (arzip.decompress_image(arzip.compress_image(x)) == x).all()")
    assert _modules_loaded_by(code, ("torch",)) == []


def test_the_command_line_starts_without_the_codecs():
    """`arzip --help` and `--version` import neither numpy nor numba (they answer in a tenth of
    a second; bench/startup.py times them)."""
    code = "from click.testing import CliRunner; from arzip.cli import cli; CliRunner().invoke(cli, ['--help'])"
    assert _modules_loaded_by(code, ("numpy", "numba", "torch")) == []


def test_modules_stay_readable():
    """No module over 400 lines unless it says why in its docstring ("Longer than")."""
    for path in PACKAGE.rglob("*.py"):
        text = path.read_text()
        assert len(text.splitlines()) <= 400 or "Longer than" in text.split('"""')[1], path


def test_every_package_is_installed():
    """pyproject.toml lists every folder of the package (a new one left out installs arzip
    without it, and every command fails on import)."""
    import tomllib
    config = tomllib.loads((PACKAGE.parent / "pyproject.toml").read_text())
    listed = set(config["tool"]["setuptools"]["packages"])
    folders = {".".join(p.parent.relative_to(PACKAGE.parent).parts) for p in PACKAGE.rglob("__init__.py")}
    assert folders <= listed, folders - listed


def test_pillow_is_imported_only_when_used(tmp_path):
    """`import arzip` and a PNG or a text round trip leave Pillow unimported; the Pillow plugin is
    registered all the same when Pillow is imported later."""
    from PIL import Image
    path = tmp_path / "small.png"
    Image.new("RGB", (5, 4), (10, 200, 30)).save(path)
    code = (f"import arzip; data = open({str(path)!r}, 'rb').read(); "
            "assert arzip.decompress(arzip.compress(data)) and arzip.decompress(arzip.compress(b'text ' * 50))")
    assert _modules_loaded_by(code, ("PIL",)) == []
    later = ("import arzip, numpy as np, io; blob = arzip.compress_image(np.zeros((4, 5, 3), np.uint8)); "
             "from PIL import Image; assert Image.open(io.BytesIO(blob)).size == (5, 4)")
    assert "PIL.Image" in _modules_loaded_by(later, ("PIL",))
