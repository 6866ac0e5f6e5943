"""Make a JPEG test set, deterministically, from the training photos.

Why: the real JPEGs in ../shared/data/jpeg are few and mostly phone photos at one quality; a
JPEG model also has to do well on every quality, chroma subsampling, Huffman table choice,
progressive scans, grayscale and restart intervals that encoders write. This makes such files
from photos whose pixels we know, so that every setting has a few files, and so that a model can
be tuned on one half of the photos and reported on the other.

How: the RGB training crops (../shared/data/train/*.png, 512x512; never ../shared/data/kodak
nor ../shared/data/files) are grouped by their source image (MANIFEST.csv's source_sha256, so
two crops of one photo never land in different halves); the groups, in the order of their first
file name, alternate between the "tune" split (even positions: for tuning the model) and the
"bench" split (odd positions: for reporting). Within a split, n files are wanted and photo i of
them is the sorted list's entry floor(i * len / n) (every k-th, k = len / n, over the whole list);
the "train" split is every photo of the tune half that the tune files do not use (what the
coefficient model's prior learns from: arzip/jpeg/train.py), and file i gets setting
i mod len(SETTINGS) (each setting twice by default). Pillow (libjpeg-turbo) encodes each at the
setting's quality 50-98, subsampling 4:4:4 / 4:2:2 / 4:2:0, baseline with standard or optimized
Huffman tables, progressive, grayscale (the photo converted to L), restart intervals (Pillow's
`restart_marker_rows` / `restart_marker_blocks`, checked to write a DRI; skipped, and said so, where
they do not), sizes that are not a multiple of the MCU, RGB without the YCbCr transform, and
ICC profile plus comment segments. The same Pillow and libjpeg-turbo write the same bytes; the
manifest gives every file's sha256, and the versions, so a difference can be seen.

    python bench/jpeg_corpus.py [--split bench|tune|train|both] [--out bench/.cache/jpeg-made]
                                [--per-setting 2] [--train ../shared/data/train]

writes OUT/SPLIT/*.jpg and OUT/SPLIT/MANIFEST.csv (file, split, source photo, settings, bytes,
sha256) and prints which photos are in which split. The default output folder is a cache, not
tracked: the files can always be made again.
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import io
import re
import struct
import sys
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageFile, features

HERE = Path(__file__).resolve().parent
DEFAULT_TRAIN = HERE.parents[1] / "shared" / "data" / "train"
DEFAULT_OUT = HERE / ".cache" / "jpeg-made"
SPLITS = ("tune", "bench", "train")


@dataclass(frozen=True)
class Setting:
    quality: int
    subsampling: str = "4:2:0"   # ignored for gray
    optimize: bool = False       # optimized Huffman tables (baseline); progressive always optimizes
    progressive: bool = False
    gray: bool = False
    restart_rows: int = 0        # Pillow restart_marker_rows: a restart every N MCU rows
    restart_blocks: int = 0      # Pillow restart_marker_blocks: a restart every N MCUs
    keep_rgb: bool = False       # RGB stored as is (Adobe APP14 transform 0), no YCbCr
    size: tuple[int, int] | None = None  # crop to (w, h): a size that is not a multiple of the MCU
    extras: bool = False         # an ICC profile (APP2) and a comment (COM)

    @property
    def tag(self) -> str:
        parts = [f"q{self.quality}", "gray" if self.gray else self.subsampling.replace(":", "")]
        parts.append("prog" if self.progressive else "opt" if self.optimize else "std")
        if self.restart_rows:
            parts.append(f"rst{self.restart_rows}rows")
        if self.restart_blocks:
            parts.append(f"rst{self.restart_blocks}mcu")
        if self.keep_rgb:
            parts.append("rgb")
        if self.size:
            parts.append(f"{self.size[0]}x{self.size[1]}")
        if self.extras:
            parts.append("icc")
        return "-".join(parts)

    @property
    def restart(self) -> bool:
        return bool(self.restart_rows or self.restart_blocks)


SETTINGS = [
    Setting(50, "4:2:0"),
    Setting(60, "4:2:2"),
    Setting(70, "4:4:4", optimize=True),
    Setting(75, "4:2:0"),                       # Pillow's defaults
    Setting(75, "4:2:0", optimize=True),
    Setting(80, "4:2:2", optimize=True),
    Setting(85, "4:4:4"),
    Setting(90, "4:2:0", optimize=True),
    Setting(95, "4:2:2"),
    Setting(98, "4:4:4", optimize=True),
    Setting(80, "4:2:0", progressive=True),
    Setting(90, "4:4:4", progressive=True),
    Setting(70, "4:2:2", progressive=True),
    Setting(95, "4:2:0", progressive=True),
    Setting(75, gray=True, optimize=True),
    Setting(90, gray=True, progressive=True),
    Setting(55, gray=True),
    Setting(85, "4:2:0", optimize=True, restart_rows=1),
    Setting(80, "4:4:4", restart_blocks=7),
    Setting(90, "4:2:0", progressive=True, restart_rows=2),
    Setting(85, "4:2:0", optimize=True, size=(509, 381)),
    Setting(92, "4:2:2", progressive=True, size=(333, 255)),
    Setting(88, "4:4:4", optimize=True, keep_rgb=True),
    Setting(80, "4:2:0", optimize=True, extras=True),
]

MANIFEST_FIELDS = ["file", "split", "source", "setting", "quality", "subsampling", "coding", "optimize",
                   "gray", "restart_rows", "restart_blocks", "keep_rgb", "width", "height", "extras", "bytes",
                   "sha256", "encoder"]


def encoder_name() -> str:
    return f"Pillow {Image.__version__} / libjpeg-turbo {features.version('libjpeg_turbo') or '?'}"


def restart_supported() -> bool:
    """Whether this Pillow writes a DRI for restart_marker_rows (older ones ignore the keyword)."""
    buf = io.BytesIO()
    try:
        Image.new("RGB", (32, 32), (90, 120, 30)).save(buf, "JPEG", quality=75, restart_marker_rows=1)
    except (TypeError, ValueError):
        return False
    return b"\xff\xdd" in buf.getvalue()


def _source_key(name: str, sources: dict[str, str]) -> str:
    return sources.get(name) or re.sub(r"_c\d+$", "", Path(name).stem)


def split_photos(train: Path) -> dict[str, list[Path]]:
    """The RGB training crops of each split: source images alternate, tune first."""
    sources = {}
    manifest = train / "MANIFEST.csv"
    if manifest.exists():
        with manifest.open(newline="") as f:
            sources = {row["file"]: row["source_sha256"] for row in csv.DictReader(f)}
    files = sorted(p for p in train.glob("*.png"))  # top level only: the gray crops live in gray/
    first: dict[str, str] = {}
    for p in files:
        first.setdefault(_source_key(p.name, sources), p.name)
    order = sorted(first, key=first.get)
    which = {key: SPLITS[i % 2] for i, key in enumerate(order)}
    out: dict[str, list[Path]] = {s: [] for s in SPLITS[:2]}
    for p in files:
        out[which[_source_key(p.name, sources)]].append(p)
    return out


def srgb_profile() -> bytes:
    """Little CMS's sRGB profile with its creation date fixed (2000-01-01) and no profile ID (zeros:
    "not computed"), so that the file's bytes do not change from run to run."""
    from PIL import ImageCms
    icc = bytearray(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
    icc[24:36] = struct.pack(">6H", 2000, 1, 1, 0, 0, 0)
    icc[84:100] = bytes(16)
    return bytes(icc)


def encode(im: Image.Image, s: Setting) -> bytes:
    if s.size:
        im = im.crop((1, 2, 1 + s.size[0], 2 + s.size[1]))
    kw: dict = {"quality": s.quality, "optimize": s.optimize, "progressive": s.progressive}
    if s.gray:
        im = im.convert("L")
    else:
        kw["subsampling"] = s.subsampling
    if s.restart_rows:
        kw["restart_marker_rows"] = s.restart_rows
    if s.restart_blocks:
        kw["restart_marker_blocks"] = s.restart_blocks
    if s.keep_rgb:
        kw["keep_rgb"] = True
    if s.extras:
        kw["icc_profile"] = srgb_profile()
        kw["comment"] = b"arzip bench/jpeg_corpus.py"
    # For an optimized or progressive file Pillow gives libjpeg a buffer of width x height bytes,
    # too small for RGB without YCbCr at high quality ("Suspension not allowed here"); its floor is
    # ImageFile.MAXBLOCK. The buffer's size changes nothing in the file's bytes.
    buf = io.BytesIO()
    saved = ImageFile.MAXBLOCK
    ImageFile.MAXBLOCK = max(saved, 8 * im.size[0] * im.size[1] + len(kw.get("icc_profile", b"")) + 4096)
    try:
        im.save(buf, "JPEG", **kw)
    finally:
        ImageFile.MAXBLOCK = saved
    return buf.getvalue()


def make(split: str, out: Path = DEFAULT_OUT, train: Path = DEFAULT_TRAIN, per_setting: int = 2,
         log=sys.stderr, folder: Path | None = None) -> Path:
    """Write OUT/SPLIT/*.jpg (or FOLDER/*.jpg) and its MANIFEST.csv; returns the folder."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}")
    rst = restart_supported()
    settings = [s for s in SETTINGS if rst or not s.restart]
    if not rst:
        print(f"restart intervals: this Pillow ({Image.__version__}) does not write a DRI for "
              "restart_marker_rows; the restart settings are skipped", file=log)
    want = per_setting * len(settings)
    photos = split_photos(train)["tune" if split == "train" else split]
    if len(photos) < want:
        raise SystemExit(f"{train}: {len(photos)} RGB photos in the {split} split, {want} wanted")
    picked = [photos[i * len(photos) // want] for i in range(want)]  # evenly, over the whole list
    if split == "train":  # the tune half's other photos, every one
        picked = [p for p in photos if p not in set(picked)]
    folder = folder or out / split
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.jpg"):  # a file of an older setting list must not linger
        old.unlink()
    rows = []
    for i, photo in enumerate(picked):
        s = settings[i % len(settings)]
        with Image.open(photo) as im:
            im = im.convert("RGB")
            data = encode(im, s)
            w, h = s.size or im.size
        name = f"{i:02d}-{s.tag}-{photo.stem}.jpg"
        (folder / name).write_bytes(data)
        rows.append({"file": name, "split": split, "source": photo.name, "setting": s.tag, "quality": s.quality,
                     "subsampling": "gray" if s.gray else s.subsampling,
                     "coding": "progressive" if s.progressive else "baseline",
                     "optimize": int(s.optimize or s.progressive), "gray": int(s.gray),
                     "restart_rows": s.restart_rows, "restart_blocks": s.restart_blocks, "keep_rgb": int(s.keep_rgb),
                     "width": w, "height": h, "extras": "icc+comment" if s.extras else "", "bytes": len(data),
                     "sha256": hashlib.sha256(data).hexdigest(), "encoder": encoder_name()})
    with (folder / "MANIFEST.csv").open("w", newline="") as f:
        wr = csv.DictWriter(f, fieldnames=MANIFEST_FIELDS)
        wr.writeheader()
        wr.writerows(rows)
    total = sum(r["bytes"] for r in rows)
    print(f"{split}: {len(rows)} files, {total:,} bytes, {len(settings)} settings x {per_setting}, "
          f"{len(picked)} of its {len(photos)} photos -> {folder}", file=log)
    return folder


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--split", choices=[*SPLITS, "both"], default="both")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--train", type=Path, default=DEFAULT_TRAIN)
    ap.add_argument("--per-setting", type=int, default=2, help="files per setting (default 2)")
    ap.add_argument("--list", action="store_true", help="only print which photos are in which split")
    args = ap.parse_args()
    halves = split_photos(args.train)
    for s in SPLITS[:2]:
        names = [p.name for p in halves[s]]
        use = "model tuning" if s == "tune" else "bench reports"
        print(f"{s} split ({use}): {len(names)} photos: {', '.join(names)}")
    if args.list:
        return
    print(f"encoder: {encoder_name()}; restart intervals: "
          f"{'written (DRI checked)' if restart_supported() else 'NOT available in this Pillow, skipped'}")
    for s in (SPLITS[:2] if args.split == "both" else [args.split]):
        make(s, args.out, args.train, args.per_setting)


if __name__ == "__main__":
    main()
