"""The command line as users type it: outputs, refusals, messages and exit codes."""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import torch
import pytest
from PIL import Image

from .conftest import arzip, assert_one_line_error, leftovers


def test_compress_decompress_cycle(png_file, small_photo):
    folder = png_file.parent
    original = png_file.read_bytes()
    r = arzip("compress", png_file)
    assert r.returncode == 0, r.stderr
    arz = folder / "photo.png.arz"
    assert arz.exists() and png_file.read_bytes() == original  # input kept, untouched
    assert re.fullmatch(r"\S+photo\.png: 8-bit RGB image, [\d.]+ kB -> [\d.]+ kB, [\d.]+ bpsp \(input file "
                        r"[\d.]+ bpsp, [-+][\d.]+ %\); pixels and chunks exact, image data re-deflated\n",
                        r.stderr), r.stderr
    # decompress refuses to clobber the existing photo.png ...
    assert_one_line_error(arzip("decompress", arz), "already exists")
    assert png_file.read_bytes() == original
    # ... writes it after the user removes it ...
    png_file.unlink()
    r = arzip("decompress", arz)
    assert r.returncode == 0, r.stderr
    assert np.array_equal(np.asarray(Image.open(png_file)), small_photo)
    assert arz.exists()
    # ... and overwrites with -f
    r = arzip("decompress", arz, "-o", png_file, "-f")
    assert r.returncode == 0, r.stderr
    assert leftovers(folder) == []


def test_explicit_output_quiet_and_threads(png_file, tmp_path):
    out = tmp_path / "x.arz"
    r = arzip("compress", png_file, "-o", out, "-q", "--threads", "2")
    assert r.returncode == 0 and r.stderr == "" and r.stdout == ""
    assert_one_line_error(arzip("compress", png_file, "-o", out), "already exists")
    assert arzip("compress", png_file, "-o", out, "-f", "-q").returncode == 0
    back = tmp_path / "back.png"
    assert arzip("decompress", out, "-o", back).returncode == 0
    assert np.array_equal(np.asarray(Image.open(back)), np.asarray(Image.open(png_file)))


def test_device_choice(png_file, tmp_path):
    out = tmp_path / "x.arz"
    assert arzip("compress", png_file, "-o", out, "-q", "--device", "cpu").returncode == 0
    assert_one_line_error(arzip("decompress", out, "-o", tmp_path / "y.png", "--device", "tpu"), "unknown device")
    if not torch.cuda.is_available():
        assert_one_line_error(arzip("decompress", out, "-o", tmp_path / "y.png", "--device", "cuda"),
                              "no CUDA GPU")
    assert not (tmp_path / "y.png").exists()


def test_info(png_file, small_photo):
    arzip("compress", png_file, "-q")
    r = arzip("info", f"{png_file}.arz", "--json")
    assert r.returncode == 0
    info = json.loads(r.stdout)
    for key in ["kind", "width", "height", "mode", "format", "parts", "compressed_bytes",
                "bits_per_subpixel", "nll_bits"]:
        assert key in info
    assert info["kind"] == "image" and info["mode"] == "8-bit RGB" and info["format"] == "png"
    assert (info["width"], info["height"]) == (small_photo.shape[1], small_photo.shape[0])
    assert info["compressed_bytes"] == os.path.getsize(f"{png_file}.arz")
    assert len(info["parts"][0]["model_sha256"]) == 64
    r = arzip("info", f"{png_file}.arz")
    assert r.returncode == 0 and "bits per subpixel" in r.stdout and "single layout" in r.stdout
    assert r.stdout.splitlines()[1] == "  contract   pixels and chunks exact, image data re-deflated"
    assert "quick context mixing around rgb-mlp1" in r.stdout and "levels 5:" in r.stdout


@pytest.mark.parametrize("mode", ["P"])
def test_png_modes_through_the_command_line(tmp_path, mode):
    """PNGs of other modes come back with their mode and pixels through the CLI
    (tests/test_images.py covers every mode, depth, metadata and the other formats)."""
    rgb = np.random.default_rng(0).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    im = Image.fromarray(rgb)
    im = im.convert(mode) if mode != "I;16" else Image.fromarray((rgb[:, :, 0].astype(np.uint16) * 257))
    path = tmp_path / "in.png"
    im.save(path)
    r = arzip("compress", path)
    assert r.returncode == 0 and "image" in r.stderr, r.stderr
    path.unlink()
    assert arzip("decompress", tmp_path / "in.png.arz").returncode == 0
    with Image.open(path) as back:
        assert back.mode == im.mode and np.array_equal(np.asarray(back), np.asarray(im))


def test_16_bit_rgb_keeps_all_16_bits(tmp_path):
    import imagecodecs
    rgb16 = np.random.default_rng(0).integers(0, 65536, (8, 8, 3), dtype=np.uint16)
    path = tmp_path / "deep.png"
    path.write_bytes(imagecodecs.png_encode(rgb16))
    assert arzip("compress", path, "--as", "image", "-q").returncode == 0
    out = tmp_path / "back.png"
    assert arzip("decompress", tmp_path / "deep.png.arz", "-o", out).returncode == 0
    assert np.array_equal(imagecodecs.png_decode(out.read_bytes()), rgb16)


def test_bad_inputs(tmp_path):
    assert_one_line_error(arzip("compress", tmp_path / "missing.png"), "no such file")
    assert_one_line_error(arzip("compress", tmp_path), "is a directory")
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    assert_one_line_error(arzip("compress", text, "--as", "image"), "not an image format")
    fake = tmp_path / "fake.png"
    fake.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    assert_one_line_error(arzip("compress", fake, "--as", "image"))
    assert_one_line_error(arzip("decompress", text), "unknown suffix")
    bogus = tmp_path / "bogus.arz"
    bogus.write_bytes(b"not an archive at all")
    assert_one_line_error(arzip("decompress", bogus), "not an arz archive")
    assert_one_line_error(arzip("info", bogus), "not an arz archive")
    assert_one_line_error(arzip("frobnicate"))
    assert_one_line_error(arzip("compress", text, "--threads", "0"))
    assert leftovers(tmp_path) == []
    assert not (tmp_path / "bogus").exists()


def test_corrupted_archive_leaves_no_output(png_file):
    arzip("compress", png_file, "-q")
    arz = Path(f"{png_file}.arz")
    data = bytearray(arz.read_bytes())
    data[len(data) // 2] ^= 0xFF
    arz.write_bytes(bytes(data))
    out = png_file.parent / "out.png"
    assert_one_line_error(arzip("decompress", arz, "-o", out), "corrupted")
    assert not out.exists() and leftovers(png_file.parent) == []
    truncated = png_file.parent / "t.arz"
    truncated.write_bytes(bytes(data[: len(data) // 3]))
    assert_one_line_error(arzip("decompress", truncated, "-o", out), "truncated")
    assert not out.exists()


def test_missing_output_folder(png_file, tmp_path):
    assert_one_line_error(arzip("compress", png_file, "-o", tmp_path / "nope" / "x.arz"), "does not exist")


def test_refuses_to_overwrite_its_input(png_file):
    arzip("compress", png_file, "-q")
    arz = f"{png_file}.arz"
    assert_one_line_error(arzip("decompress", arz, "-o", arz, "-f"), "overwrite the input")


def test_help_and_version():
    r = arzip("--help")
    assert r.returncode == 0 and "compress" in r.stdout
    assert arzip("--version").returncode == 0


def test_explain_writes_a_heat_map(png_file, small_photo):
    out = png_file.parent / "bits.png"
    r = arzip("explain", png_file, "-o", out)
    assert r.returncode == 0, r.stderr
    assert re.search(r"8-bit RGB 80x48, [\d.]+ bits per subpixel \(R [\d.]+, G [\d.]+, B [\d.]+\)", r.stdout)
    with Image.open(out) as im:
        assert im.format == "PNG" and im.size[0] > 100
    assert_one_line_error(arzip("explain", png_file, "-o", out), "already exists")


def test_levels(png_file, tmp_path):
    from arzip import registry
    for flag, level, coding in (("-1", 1, "model rgb-mlp64"), ("-6", 6, "medium context mixing around rgb-mlp1"),
                                ("-9", 9, "context mixing around rgb-mlp256")):
        out = tmp_path / f"l{level}.arz"
        r = arzip("compress", png_file, flag, "-o", out, "-q")
        assert r.returncode == 0, r.stderr
        info = json.loads(arzip("info", out, "--json").stdout)
        assert info["parts"][0]["model"] == registry.model_for_level(level)
        assert level in info["parts"][0]["levels"]
        assert coding in arzip("info", out).stdout
        back = tmp_path / f"l{level}.png"
        assert arzip("decompress", out, "-o", back).returncode == 0
        assert back.read_bytes() and np.array_equal(np.asarray(Image.open(back)), np.asarray(Image.open(png_file)))
    assert_one_line_error(arzip("compress", png_file, "--level", "0", "-o", tmp_path / "x.arz"), "level")


def test_other_formats_come_back_in_their_format_or_as_png(tmp_path, small_photo):
    """A TGA (recognised by its suffix: TGA has no magic number) comes back as TGA, or as PNG
    with --to png (default name: the suffix replaced)."""
    path = tmp_path / "photo.tga"
    Image.fromarray(small_photo).save(path, compression="tga_rle")
    r = arzip("compress", path)
    assert r.returncode == 0 and "8-bit RGB image" in r.stderr, r.stderr
    original = path.read_bytes()
    path.unlink()
    assert arzip("decompress", tmp_path / "photo.tga.arz").returncode == 0
    with Image.open(path) as back:
        assert back.format == "TGA" and np.array_equal(np.asarray(back), small_photo)
    assert len(path.read_bytes()) == len(original)
    assert arzip("decompress", tmp_path / "photo.tga.arz", "--to", "png").returncode == 0
    with Image.open(tmp_path / "photo.png") as back:
        assert back.format == "PNG" and np.array_equal(np.asarray(back), small_photo)
    info = json.loads(arzip("info", tmp_path / "photo.tga.arz", "--json").stdout)
    assert info["format"] == "tga" and info["mode"] == "8-bit RGB"


# -- gzip's habits ------------------------------------------------------------------------------

def _archived(folder: Path, name: str = "notes.txt", text: str = "hello, arzip\n" * 40) -> tuple[Path, Path]:
    """A text file and its archive beside it (the byte path: quick)."""
    path = folder / name
    path.write_text(text)
    r = arzip("compress", path, "-q")
    assert r.returncode == 0, r.stderr
    return path, folder / f"{name}.arz"


def test_d_among_other_short_flags_and_t_and_l(tmp_path):
    """gzip's -d, -t and -l among other short flags: end to end for -dc, -dk and -t, and the
    command line each spelling becomes (what main() runs) for the rest."""
    from arzip import cli as cli_module
    from arzip.errors import ArzipError
    path, arz = _archived(tmp_path)
    original = path.read_text()
    r = arzip("-dc", arz)
    assert r.returncode == 0 and r.stdout == original, r.stderr
    assert_one_line_error(arzip("-dk", arz), "already exists")
    r = arzip("-t", arz, arz)
    assert r.returncode == 0 and r.stderr.count(f"{arz}: OK (bytes, {len(original):,} bytes)") == 2, r.stderr
    spellings = {("-c", "-d", "x.arz"): ["decompress", "-c", "x.arz"], ("-dk", "x.arz"): ["decompress", "-k", "x.arz"],
                 ("-df", "x.arz"): ["decompress", "-f", "x.arz"], ("-dcf", "x.arz"): ["decompress", "-cf", "x.arz"],
                 ("-do", "out", "x.arz"): ["decompress", "-o", "out", "x.arz"],  # -o's value stays a value
                 ("-l", "a.arz"): ["info", "a.arz"], ("info", "-d"): ["info", "-d"]}
    for given, meant in spellings.items():
        assert cli_module._gzip_args(list(given)) == meant, given
    with pytest.raises(ArzipError, match="give one"):
        cli_module._gzip_args(["-dt", "a.arz"])


def test_info_on_many_files(tmp_path):
    _, a = _archived(tmp_path, "a.txt")
    _, b = _archived(tmp_path, "b.txt", "other text")
    bogus = tmp_path / "bogus.arz"
    bogus.write_bytes(b"not an archive at all")
    r = arzip("info", a, bogus, b)
    assert r.returncode == 1
    titles = [line for line in r.stdout.splitlines() if not line.startswith(" ")]
    assert titles == [f"{a}: arz bytes, {40 * 13} bytes", f"{b}: arz bytes, 10 bytes"], r.stdout
    assert r.stdout.count("  contract   bytes exact\n") == 2
    assert_one_line_error(r, rf"^arzip: error: {re.escape(str(bogus))}: not an arz archive")
    r = arzip("info", "--json", a, bogus, b)
    assert r.returncode == 1 and r.stderr.count("\n") == 1
    found = [json.loads(line) for line in r.stdout.splitlines()]
    assert [(o["file"], o["original_bytes"], o["contract"]) for o in found] == [
        (str(a), 40 * 13, "bytes exact"), (str(b), 10, "bytes exact")]


def test_skipped_inputs_exit_2_and_errors_win(tmp_path):
    text = tmp_path / "a.txt"
    text.write_text("hello")
    old = tmp_path / "b.arz"
    old.write_bytes(b"some archive")
    r = arzip("compress", text, old)
    assert r.returncode == 2, r.stderr
    assert f"arzip: warning: {old}: already has the .arz suffix; skipped\n" in r.stderr
    assert (tmp_path / "a.txt.arz").exists() and not (tmp_path / "b.arz.arz").exists()
    r = arzip("compress", "-f", text, old, tmp_path / "missing.txt")
    assert r.returncode == 1 and "missing.txt: no such file" in r.stderr and "warning" in r.stderr


def test_symbolic_links_are_skipped_without_f(tmp_path):
    data = tmp_path / "data.txt"
    data.write_text("linked data\n")
    link = tmp_path / "link.txt"
    link.symlink_to(data)
    r = arzip("compress", link)
    assert r.returncode == 2 and r.stderr == f"arzip: warning: {link}: is a symbolic link; skipped (use -f)\n"
    assert not (tmp_path / "link.txt.arz").exists()
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "link.txt").symlink_to(data)
    r = arzip("compress", "-r", folder)
    assert r.returncode == 2 and "link.txt: is a symbolic link; skipped (use -f)" in r.stderr, r.stderr
    assert list(folder.iterdir()) == [folder / "link.txt"]
    assert arzip("compress", "-f", "-q", link).returncode == 0  # with -f the link's target is read
    arz_link = tmp_path / "again.txt.arz"
    arz_link.symlink_to(tmp_path / "link.txt.arz")
    r = arzip("decompress", arz_link)
    assert r.returncode == 2 and "is a symbolic link; skipped (use -f)" in r.stderr
    assert arzip("decompress", "-f", arz_link).returncode == 0
    assert (tmp_path / "again.txt").read_text() == "linked data\n" and link.is_symlink()


def test_no_name_left_once_the_suffix_is_removed(tmp_path):
    path, arz = _archived(tmp_path)
    for name in ("..arz", ".arz"):
        (tmp_path / name).write_bytes(arz.read_bytes())
        assert_one_line_error(arzip("decompress", tmp_path / name),
                              rf"{re.escape(name)}: no name left once \.arz is removed; use -o to name the output")
    out = tmp_path / "named.txt"
    assert arzip("-d", tmp_path / "..arz", "-o", out).returncode == 0
    assert out.read_bytes() == path.read_bytes()


def test_compress_verify(tmp_path, png_file):
    path = tmp_path / "notes.txt"
    path.write_text("verified\n" * 30)
    r = arzip("compress", "--verify", path)
    assert r.returncode == 0 and r.stderr.endswith("; bytes exact\n"), r.stderr
    assert path.exists() and (tmp_path / "notes.txt.arz").exists()
    r = arzip("compress", "--verify", png_file)
    assert r.returncode == 0 and r.stderr.endswith("; pixels and chunks exact, image data re-deflated\n")
    assert_one_line_error(arzip("compress", "--verify", "-c", path), "verify")


def test_max_size(tmp_path, png_file):
    path, arz = _archived(tmp_path, text="x" * 3000)
    out = tmp_path / "out.txt"
    assert_one_line_error(arzip("decompress", arz, "-o", out, "--max-size", "2K"), "size limit")
    assert not out.exists() and leftovers(tmp_path) == []
    assert arzip("decompress", arz, "-o", out, "--max-size", "3k").returncode == 0 and out.read_text() == "x" * 3000
    assert_one_line_error(arzip("test", arz, "--max-size", "2999"), "size limit")
    assert arzip("test", arz, "--max-size", "3000").returncode == 0
    assert_one_line_error(arzip("test", arz, "--max-size", "3X"), "not a size")
    arzip("compress", png_file, "-q")
    r = arzip("test", "-j", "2", "--max-size", "1K", arz, f"{png_file}.arz")  # workers get the limit too
    assert r.returncode == 1 and r.stderr.count("size limit") == 2, r.stderr
