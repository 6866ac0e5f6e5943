"""docs/FORMAT.md's method tables against the code: a reader written from the spec must parse
every part record and block record the code writes, so the tables of part methods (image
archives) and block methods (byte archives) may not drift from arzip/image/container.py and
arzip/bytes/container.py."""
from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from arzip import registry
from arzip.bytes import archive as byte_archive
from arzip.bytes import container as bytes_container
from arzip.image import container, pixel_parts, planes

ROOT = Path(__file__).resolve().parents[1]
FORMAT = ROOT / "docs" / "FORMAT.md"
NONE = "—"  # a profile cell of a method without one


def table_under(heading: str, text: str | None = None) -> list[dict[str, str]]:
    """The first Markdown table after the heading `heading`, as one dict per row keyed by the
    header cells (backticks stripped)."""
    lines = (FORMAT.read_text() if text is None else text).splitlines()
    start = lines.index(heading)
    rows = []
    for line in lines[start + 1:]:
        if line.startswith("#"):
            break
        if line.startswith("|"):
            rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
        elif rows:
            break
    assert len(rows) >= 3 and set(rows[1]) <= {"---", ":---", "---:", ":---:"}, f"no table under {heading!r}"
    header = rows[0]
    assert all(len(row) == len(header) for row in rows[2:]), f"ragged table under {heading!r}"
    return [dict(zip(header, row)) for row in rows[2:]]


def part_methods(text: str | None = None) -> dict[int, dict[str, str]]:
    rows = table_under("### Part methods", text)
    table = {int(row["method"]): row for row in rows}
    assert len(table) == len(rows), "a method twice in the table"
    return table


def yes_no(cell: str) -> bool:
    word = re.match(r"(yes|no)\b", cell)
    assert word, f"a cell that is not yes or no: {cell!r}"
    return word.group(1) == "yes"


def levels(spec: str) -> set[int]:
    """'5', '1–4', '8, 9', '6–7' -> the set of levels."""
    out = set()
    for item in spec.split(","):
        lo, _, hi = item.strip().replace("-", "–").partition("–")
        out |= set(range(int(lo), int(hi or lo) + 1))
    return out


def written_levels(cell: str) -> tuple[set[int], set[int]]:
    """A network method's 'written' cell -> (levels for colour planes, levels for gray planes):
    'yes, levels 8–9 (gray planes 6–9)', 'yes, levels 6–7 (colour planes only)', 'yes, level 5'."""
    m = re.match(r"yes, levels? ([0-9–, -]+?)(?: \((.*)\))?$", cell)
    assert m, f"a network method written by this arzip names its levels: {cell!r}"
    colour, note = levels(m.group(1)), m.group(2) or ""
    if note == "colour planes only":
        return colour, set()
    gray = re.fullmatch(r"gray planes ([0-9–, -]+)", note)
    return colour, (levels(gray.group(1)) if gray else colour)


def module_path(cell: str) -> Path:
    m = re.match(r"`(arzip/[a-z0-9_/]+\.py)`", cell)
    assert m, f"'decoded by' names a module of arzip: {cell!r}"
    return ROOT / m.group(1)


# ---- image archives: part methods

def check_part_methods(table: dict[int, dict[str, str]]) -> None:
    """Every method of the code in the table and nothing else, each with its name, its profile,
    and layout + scale offsets and payload_crc exactly where container.read_header reads them
    (NETWORK_METHODS)."""
    assert {m: row["name"] for m, row in table.items()} == container.METHODS
    profiles = {m: row["profile"] for m, row in table.items() if row["profile"] != NONE}
    assert profiles == container.MIXING_PROFILES
    for m, row in table.items():
        network = m in container.NETWORK_METHODS
        assert yes_no(row["layout, scale_offsets"]) == network, f"method {m}: layout, scale_offsets"
        assert yes_no(row["payload_crc"]) == network, f"method {m}: payload_crc"


def test_part_methods_are_the_codes_with_their_names_profiles_and_fields():
    check_part_methods(part_methods())


def test_part_methods_name_the_modules_that_decode_them():
    for m, row in part_methods().items():
        path = module_path(row["decoded by"])
        assert path.is_file(), f"method {m}: {path} does not exist"
        if m in pixel_parts.DECODERS:  # each decoder imports its model's module
            assert f"from . import {path.stem}" in inspect.getsource(pixel_parts.DECODERS[m]), f"method {m}"
        elif m in container.NETWORK_METHODS:  # network_parts.decode_plane: mixing_codec with a profile, else codec
            assert path.name == ("mixing_codec.py" if m in container.MIXING_PROFILES else "codec.py"), f"method {m}"
        else:  # planes.decode: the rest goes the byte path
            assert m == container.METHOD_BYTES and path == ROOT / "arzip" / "bytes" / "archive.py"


def test_part_methods_written_as_the_encoder_and_the_levels_say():
    """Network methods: the levels of models/manifest.json that code colour and gray planes that
    way. The others: whether arzip/image/planes.py makes a part of that method."""
    manifest = registry.manifest()
    source = inspect.getsource(planes)
    for m, row in part_methods().items():
        written = yes_no(row["written by this arzip"])
        if m in container.NETWORK_METHODS:
            profile = container.MIXING_PROFILES.get(m)
            colour = {lv for lv in registry.LEVELS if manifest.get("mixing_levels", {}).get(str(lv)) == profile}
            gray = {lv for lv in registry.LEVELS if manifest.get("gray_mixing_levels", {}).get(str(lv)) == profile}
            assert written == bool(colour | gray), f"method {m}"
            if written:
                assert written_levels(row["written by this arzip"]) == (colour, gray), f"method {m}"
        else:
            name = next(k for k, v in vars(container).items() if k.startswith("METHOD_") and v == m)
            made = re.search(rf"(Part\([^)]*|_Coding\.whole\()container\.{name}\b", source) is not None
            assert written == made, f"method {m} ({name})"


def test_the_part_record_points_at_the_table():
    """The part record's rows no longer list methods by number (the list that went stale)."""
    record = {row["field"]: row["meaning"] for row in table_under("Each part:")}
    for field in ("method", "layout, scale_offsets", "payload_crc"):
        assert "[Part methods](#part-methods)" in record[field]
        assert not re.search(r"methods? \d", record[field]), record[field]


# ---- byte archives: block methods

def block_methods() -> dict[int, dict[str, str]]:
    rows = table_under("### Block methods")
    table = {int(row["method"]): row for row in rows}
    assert len(table) == len(rows), "a method twice in the table"
    return table


def test_block_methods_are_the_codes_methods_with_their_names():
    assert {m: row["name"] for m, row in block_methods().items()} == bytes_container.METHODS


def test_block_methods_written_and_decoded_as_the_code_does():
    written = {*bytes_container.CM_WRITTEN, bytes_container.METHOD_MODEL, bytes_container.METHOD_BITMAP,
               *byte_archive._classical(b"x")}  # code_block's
    decoder = inspect.getsource(byte_archive.decode_block)
    for m, row in block_methods().items():
        assert yes_no(row["written by this arzip"]) == (m in written), f"block method {m}"
        assert module_path(row["decoded by"]).is_file(), f"block method {m}"
        library = re.search(r"Python's `(\w+)`", row["decoded by"])
        if library:
            assert f"{library.group(1)}." in decoder, f"block method {m}: decode_block uses no {library.group(1)}"


# ---- the tests can fail

def _row(text: str, start: str) -> str:
    return next(line for line in text.splitlines() if line.startswith(start))


@pytest.mark.parametrize("mutation", ["no method 9", "method 9 without fields", "method 9 without payload_crc",
                                      "method 3 with a profile of 4", "an extra method", "method 6 renamed"])
def test_a_stale_table_fails(mutation):
    """The spec's old mistakes, and others like them, made in a copy of the text: the check fails."""
    text = FORMAT.read_text()
    row9, row3 = _row(text, "| 9 | quick mixing |"), _row(text, "| 3 | light mixing |")
    row6, row10 = _row(text, "| 6 | 16-bit gray |"), row9.replace("| 9 | quick mixing |", "| 10 | fast |")
    broken = {
        "no method 9": lambda: text.replace(row9 + "\n", ""),
        "method 9 without fields": lambda: text.replace(row9, row9.replace("| yes | yes |", "| no | no |", 1)),
        "method 9 without payload_crc": lambda: text.replace(row9, row9.replace("| yes | yes |", "| yes | no |", 1)),
        "method 3 with a profile of 4": lambda: text.replace(row3, row3.replace("| light |", "| medium |", 1)),
        "an extra method": lambda: text.replace(row9, f"{row9}\n{row10}"),
        "method 6 renamed": lambda: text.replace(row6, row6.replace("| 16-bit gray |", "| gray16 |", 1)),
    }[mutation]()
    assert broken != text
    with pytest.raises(AssertionError):
        check_part_methods(part_methods(broken))


def test_format_md_links_point_at_its_headings():
    text = FORMAT.read_text()
    slugs = {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-")
             for h in re.findall(r"^#+ (.+)$", text, re.M)}
    assert {a for a in re.findall(r"\]\(#([^)]+)\)", text)} <= slugs
