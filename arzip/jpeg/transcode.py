"""A JPEG file taken apart into its quantised DCT coefficients and `side`, everything else, and
put back together byte for byte.

take_apart decodes every scan's Huffman-coded data into per-component planes of coefficients,
keeps all header bytes verbatim, and records the few choices an encoder makes beyond the
coefficients (padding bits, where EOB runs end, where the file stops being what re-encoding
gives: a truncated or damaged scan keeps the bytes from there on raw). It then rebuilds the file
from its own result and refuses (NotCoefficients) unless every byte comes back. Longer than
400 lines: the side's format, specified below, is read and written here and nowhere else.

Side format, version 1 (integers are unsigned LEB128 varints, arzip.container.varint):

    version        1 byte: 1
    scan count     varint, 1..256
    per scan, in file order:
      header       varint n, n bytes: the file from the end of the previous scan's entropy-coded
                   data (for the first scan from its first byte, SOI) through this scan's SOS
                   segment; whole marker segments, fill bytes FF allowed before a marker
      flags        1 byte: bits 0-1 padding rule, bits 2-3 EOB-run rule, bits 4-7 zero
      paddings     only under padding rule 2: varint n, n bytes
      runs         only under EOB-run rule 2: varint n, n varints, each 1..32767
      holes        varint n; per hole: varint MCUs coded between the previous hole (or the scan's
                   start) and this one, varint MCUs the hole replaces, varint n, n raw bytes
      tail         varint n, n bytes kept raw after the scan's padded last byte
    trailer        varint n, n bytes: everything after the last scan's entropy-coded data
                   (markers, EOI, whatever follows EOI; may be empty)
    nothing may follow

The file is, for each scan, header + entropy-coded data + tail, then the trailer. A scan's
entropy-coded data is its MCUs (T.81 A.2: an interleaved scan's by the frame's MCU grid, a scan
of one component block by block over that component's own size) re-encoded from the planes with
the tables, restart interval and scan parameters the headers so far define, as libjpeg's encoder
writes them: ZRL only before a nonzero coefficient, EOB after the last one, a 00 after every FF
byte, RST0..7 in turn before each MCU whose index is a nonzero multiple of the restart interval,
the last byte before each RSTn and at the end padded. In place of a hole's MCUs come its raw
bytes (ending with the RSTn coding resumes after, unless the hole runs to the end): the bits of
an unfinished byte before it are dropped (they are the raw bytes' first), the DC predictions,
EOB run and correction bits start afresh after it, and no RSTn is written before the MCU it
resumes at. At the end a pending EOB run is written and the last byte padded.
A hole is where decoding failed (the data ran out, a code the table lacks, no RSTn where one is
due): from the byte holding the first bit after the last whole MCU through the next RSTn (or to
the end of the data), as arzip.jpeg.huffman.skip_damage finds it.
- Padding rule: 0 bits of 1; 1 bits of 0; 2 the listed bytes in turn, one per padding place
  (before each RSTn written, then at the end; a place with no bits to pad takes one too), their
  low bits used; places past the list take bits of 1.
- EOB-run rule (progressive AC scans; ignored elsewhere): a pending run is always written before
  a block that codes a coefficient, before RSTn and at the end; besides, 0 (libjpeg's) when it
  reaches 32767 blocks, or in a refinement scan when more than 937 correction bits wait for it;
  1 after every block; 2 when it reaches the next listed length, rule 0 past the list.

Geometry (geometry_of): the frame's size and components; each component's plane padded to
whole MCUs; its quantisation table as latched by its first scan (for a component in no scan,
its table slot's content at the first scan, zeros if undefined), in natural order.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from ..container import Reader, varint
from ..errors import FormatError, UnsupportedInput
from . import huffman as hf
from . import huffman_progressive as hp
from .markers import MAX_SCANS, Frame, Headers, HuffmanSpec, MarkerError, Scan, read_headers, split

SIDE_VERSION = 1
MAX_PLANE_BYTES = 1 << 29  # 512 MiB of coefficients: about 90 M pixels at 4:4:4, 180 M at 4:2:0
RAW_SHARE = 8  # refused when more than 1/RAW_SHARE of the entropy-coded bytes must be kept raw
RAW_SLACK = 4096  # ... and more than this many bytes
_EOB_SHIFT = 2
_NO_TRACE = np.zeros(0, np.int64)
_NO_RUNS = np.zeros(0, np.int64)


class NotCoefficients(UnsupportedInput):
    """A JPEG (or other file) that cannot go through the coefficient path exactly."""


@dataclass(frozen=True)
class ComponentGeometry:
    ident: int
    h: int
    v: int
    blocks_y: int
    blocks_x: int
    quant: np.ndarray  # uint16 (64,), natural order


@dataclass(frozen=True)
class Geometry:
    width: int
    height: int
    precision: int
    progressive: bool
    components: tuple[ComponentGeometry, ...]


@dataclass
class Parts:
    geometry: Geometry
    planes: list[np.ndarray]  # int16 (blocks_y, blocks_x, 64), natural order
    side: bytes


@dataclass(frozen=True)
class _Record:
    """How one scan's bytes come back (module docstring: padding, EOB runs, holes, tail)."""
    pad_rule: int
    paddings: bytes
    eob_rule: int
    runs: np.ndarray  # int64: the EOB run lengths met (listed under EOB-run rule 2)
    holes: tuple[tuple[int, int, bytes], ...]  # (first MCU replaced, MCU coding resumes at, raw bytes)
    tail: bytes

    @property
    def raw(self) -> int:
        return len(self.tail) + sum(len(h[2]) for h in self.holes)


def take_apart(data: bytes, max_pixels: int) -> Parts:
    """The coefficients and side of a JPEG file; NotCoefficients where it cannot go this way."""
    data = bytes(data)
    try:
        layout = split(data)
        geometry = _geometry(layout.headers)
    except MarkerError as e:
        raise NotCoefficients(str(e)) from None
    if geometry.width * geometry.height > max_pixels:
        raise NotCoefficients(f"JPEG of {geometry.width}x{geometry.height} pixels is over the limit of {max_pixels}")
    # views of one array in component order: the coefficient model codes them as one, uncopied
    sizes = [c.blocks_y * c.blocks_x for c in geometry.components]
    whole = np.zeros((sum(sizes), 64), np.int16)
    planes = [whole[a - n:a].reshape(c.blocks_y, c.blocks_x, 64)
              for c, n, a in zip(geometry.components, sizes, np.cumsum(sizes))]
    array = np.frombuffer(data, np.uint8)
    frame = layout.headers.frame
    records = []
    for scan, (start, end) in zip(layout.headers.scans, layout.data):
        records.append(_decode(array, start, end, frame, scan, planes))
    side = _serialise(layout.chunks, records, layout.trailer)
    if not _rebuilds(side, planes, data):
        records = [_fit(data, start, end, frame, scan, record, planes)
                   for scan, (start, end), record in zip(layout.headers.scans, layout.data, records)]
        side = _serialise(layout.chunks, records, layout.trailer)
        if not _rebuilds(side, planes, data):
            raise NotCoefficients("JPEG that does not round-trip")
    raw = sum(r.raw for r in records)
    coded = sum(end - start for start, end in layout.data)
    if raw > RAW_SLACK and raw * RAW_SHARE > coded:
        raise NotCoefficients(f"JPEG whose entropy-coded data does not re-encode ({raw} of {coded} bytes)")
    return Parts(geometry, planes, side)


def geometry_of(side: bytes) -> Geometry:
    """What a decoder of the planes needs first; FormatError on a damaged side."""
    return _geometry_checked(_parse(side)[0])


def put_together(side: bytes, planes: list[np.ndarray]) -> bytes:
    """The original file from its side and planes; FormatError on anything inconsistent."""
    headers, chunks, records, trailer = _parse(side)
    geometry = _geometry_checked(headers)
    if not isinstance(planes, (list, tuple)) or len(planes) != len(geometry.components):
        raise FormatError("corrupted JPEG side (wrong number of coefficient planes)")
    for plane, c in zip(planes, geometry.components):
        if not isinstance(plane, np.ndarray) or plane.dtype != np.int16 or plane.shape != (c.blocks_y, c.blocks_x, 64):
            raise FormatError("corrupted JPEG side (coefficient planes of the wrong shape)")
    planes = [p if p.flags.c_contiguous and p.flags.writeable else np.array(p) for p in planes]
    pieces = []
    for chunk, scan, record in zip(chunks, headers.scans, records):
        encoded, status = _encode(headers.frame, scan, record, planes)
        if status != hf.DONE:
            raise FormatError("corrupted JPEG side (a coefficient its Huffman table cannot code)")
        pieces += [chunk, encoded, record.tail]
    pieces.append(trailer)
    return b"".join(pieces)


def _rebuilds(side: bytes, planes: list[np.ndarray], data: bytes) -> bool:
    try:
        return put_together(side, planes) == data
    except FormatError:
        return False


def _geometry(headers: Headers) -> Geometry:
    frame = headers.frame
    quant = headers.component_quant()
    components = []
    for i, c in enumerate(frame.components):
        rows, cols = frame.plane_blocks(i)
        components.append(ComponentGeometry(c.ident, c.h, c.v, rows, cols, quant[i]))
    if sum(c.blocks_y * c.blocks_x for c in components) * 128 > MAX_PLANE_BYTES:
        raise MarkerError(f"JPEG whose coefficients take over {MAX_PLANE_BYTES >> 20} MiB")
    return Geometry(frame.width, frame.height, 8, frame.progressive, tuple(components))


def _geometry_checked(headers: Headers) -> Geometry:
    try:
        return _geometry(headers)
    except MarkerError as e:
        raise FormatError(f"corrupted JPEG side ({e})") from None


def _layout(frame: Frame, scan: Scan) -> tuple[np.ndarray, int, int, list[HuffmanSpec]]:
    """The kernels' view of a scan: its blocks per MCU (huffman.L_* columns, the plane column an
    index into _kernel_planes), MCU rows and columns, and the tables its blocks index."""
    specs = list(dict.fromkeys(s for s in scan.dc + scan.ac if s is not None))
    rows = []
    for i, dc, ac in zip(scan.components, scan.dc, scan.ac):
        c = frame.components[i]
        tables = (specs.index(dc) if dc else 0, specs.index(ac) if ac else 0)
        if len(scan.components) == 1:
            rows.append((0, 1, 1, 0, 0) + tables)
        else:
            rows += [(i, c.v, c.h, dy, dx) + tables for dy in range(c.v) for dx in range(c.h)]
    mcu_rows, mcu_cols = frame.coded_blocks(scan.components[0]) if len(scan.components) == 1 else frame.mcus
    return np.array(rows, np.int64), mcu_rows, mcu_cols, specs


def _kernel_planes(scan: Scan, planes: list[np.ndarray]) -> list[np.ndarray]:
    """The four plane arguments of a scan's kernels: the scan's one component first where it has
    one (the progressive AC kernels rely on it), else every component in frame order."""
    chosen = [planes[scan.components[0]]] if len(scan.components) == 1 else list(planes)
    return chosen + [np.zeros((1, 1, 64), np.int16)] * (4 - len(chosen))


@functools.lru_cache(maxsize=64)
def _decode_table(spec: HuffmanSpec) -> tuple[np.ndarray, ...]:
    return spec.decoding()


@functools.lru_cache(maxsize=64)
def _encode_table(spec: HuffmanSpec) -> tuple[np.ndarray, ...]:
    return spec.encoding()


def _stacked(specs: list[HuffmanSpec], build) -> list[np.ndarray]:
    tables = [build(s) for s in specs] or [build(HuffmanSpec(bytes(16), b""))]
    return [np.stack(parts) for parts in zip(*tables)]


def _decode(array: np.ndarray, start: int, end: int, frame: Frame, scan: Scan, planes: list[np.ndarray]) -> _Record:
    """Decode a scan into the planes; the record that, most likely, rebuilds its bytes."""
    layout, rows, cols, specs = _layout(frame, scan)
    fast, maxcode, offset, values = _stacked(specs, _decode_table)
    restart_interval = scan.restart_interval
    boundaries = rows * cols // restart_interval if restart_interval else 0
    pads = np.zeros(boundaries + 2, np.int64)
    holes = np.zeros((2 * boundaries + 4, 4), np.int64)
    result = np.zeros(4, np.int64)
    runs = _NO_RUNS
    if frame.progressive:
        found = np.zeros(rows * cols * len(layout) + 1 if scan.ss else 1, np.int64)
        hp.decode_progressive(array, start, end, layout, cols, rows, restart_interval, scan.ss, scan.se, scan.ah,
                              scan.al, fast, maxcode, offset, values, *_kernel_planes(scan, planes), pads, holes, found, result)
        runs = found[:result[hf.R_RUNS]].copy()
    else:
        hf.decode_sequential(array, start, end, layout, cols, rows, restart_interval,
                             fast, maxcode, offset, values, *_kernel_planes(scan, planes), pads, holes, result)
    pads = pads[:result[hf.R_PADS]]
    counts, values = pads >> 8, pads & 0xFF
    if np.all(values == (1 << counts) - 1):
        pad_rule, paddings = hf.PAD_ONES, b""
    elif np.all(values == 0):
        pad_rule, paddings = hf.PAD_ZEROS, b""
    else:
        pad_rule, paddings = hf.PAD_LISTED, values.astype(np.uint8).tobytes()
    found_holes = tuple((int(cut), int(resume), array[a:b].tobytes()) for cut, resume, a, b in holes[:result[hf.R_HOLES]])
    return _Record(pad_rule, paddings, hp.EOB_LIBJPEG, runs, found_holes, array[result[hf.R_TAIL]:end].tobytes())


def _encode(frame: Frame, scan: Scan, record: _Record, planes: list[np.ndarray], expected: int = -1,
            trace: np.ndarray = _NO_TRACE) -> tuple[bytes, int]:
    """(bytes, outcome) of a scan under record, its tail left out; trace as the kernels take it;
    expected: a guess of the length (the buffer grows as needed)."""
    layout, rows, cols, specs = _layout(frame, scan)
    code, size = _stacked(specs, _encode_table)
    state = np.zeros(hf.STATE_SIZE, np.int64)
    out = np.empty((expected if expected >= 0 else 2 * rows * cols * len(layout)) + 65536, np.uint8)
    pads = np.frombuffer(record.paddings, np.uint8)
    runs = record.runs if record.eob_rule == hp.EOB_LISTED else _NO_RUNS
    raw = np.frombuffer(b"".join(h[2] for h in record.holes), np.uint8)
    ends = np.cumsum([len(h[2]) for h in record.holes], dtype=np.int64)
    holes = np.array([(cut, resume, end - len(r), end) for (cut, resume, r), end in zip(record.holes, ends)],
                     np.int64).reshape(-1, 4)
    corrections = np.zeros(64 * (int(runs.max(initial=0)) + 2) + 2048, np.uint8)
    while True:
        if frame.progressive:
            status = hp.encode_progressive(layout, cols, rows, scan.restart_interval, scan.ss, scan.se, scan.ah,
                                           scan.al, record.pad_rule, pads, holes, raw, record.eob_rule, runs,
                                           code, size, *_kernel_planes(scan, planes), state, out, corrections, trace)
        else:
            status = hf.encode_sequential(layout, cols, rows, scan.restart_interval, record.pad_rule, pads, holes,
                                          raw, code, size, *_kernel_planes(scan, planes), state, out, trace)
        if status != hf.NEED_ROOM:
            break
        grown = np.empty(2 * len(out), np.uint8)
        grown[:state[hf.S_OUT]] = out[:state[hf.S_OUT]]
        out = grown
    return out[:state[hf.S_OUT]].tobytes(), status


def _fit(data: bytes, start: int, end: int, frame: Frame, scan: Scan, guess: _Record,
         planes: list[np.ndarray]) -> _Record:
    """The record that re-encodes most of a scan's bytes: each EOB-run rule that could apply is
    tried; where the bytes part, a hole at the last MCU boundary before it takes the rest."""
    original = data[start:end]
    rows, cols = _layout(frame, scan)[1:3]
    total = rows * cols
    rules = [guess]
    if frame.progressive and scan.ss and len(guess.runs):
        rules.append(_replace(guess, eob_rule=hp.EOB_SINGLE if np.all(guess.runs == 1) else hp.EOB_LISTED))
    best, best_kept = guess, -1
    for record in rules:
        trace = np.full(total + 1, -1, np.int64)
        encoded, status = _encode(frame, scan, record, planes, len(original), trace)
        if status == hf.DONE and original.startswith(encoded):
            return _replace(record, tail=original[len(encoded):])
        n = min(len(encoded), len(original))
        differ = np.flatnonzero(np.frombuffer(encoded, np.uint8, n) != np.frombuffer(original, np.uint8, n))
        same = int(differ[0]) if len(differ) else n
        cuts = np.flatnonzero((trace >= 0) & (trace <= same))
        cut = int(cuts[-1]) if len(cuts) else 0
        kept = int(trace[cut]) if len(cuts) else 0
        if kept > best_kept:
            holes = tuple(h for h in record.holes if h[1] <= cut) + ((cut, total, original[kept:]),)
            best, best_kept = _replace(record, holes=holes, tail=b""), kept
    return best


def _replace(record: _Record, **changes) -> _Record:
    return _Record(**{**record.__dict__, **changes})


def _serialise(chunks: list[bytes], records: list[_Record], trailer: bytes) -> bytes:
    out = bytearray([SIDE_VERSION])
    out += varint(len(records))
    for chunk, r in zip(chunks, records):
        out += varint(len(chunk)) + chunk
        out.append(r.pad_rule | r.eob_rule << _EOB_SHIFT)
        if r.pad_rule == hf.PAD_LISTED:
            out += varint(len(r.paddings)) + r.paddings
        if r.eob_rule == hp.EOB_LISTED:
            out += varint(len(r.runs)) + b"".join(varint(n) for n in r.runs.tolist())
        out += varint(len(r.holes))
        previous = 0
        for cut, resume, raw in r.holes:
            out += varint(cut - previous) + varint(resume - cut) + varint(len(raw)) + raw
            previous = resume
        out += varint(len(r.tail)) + r.tail
    out += varint(len(trailer)) + trailer
    return bytes(out)


def _parse(side: bytes) -> tuple[Headers, list[bytes], list[_Record], bytes]:
    """Read side back (module docstring), checking every field against the headers."""
    if not isinstance(side, (bytes, bytearray)) or len(side) < 1 or side[0] != SIDE_VERSION:
        raise FormatError("corrupted JPEG side (unknown version)")
    reader = Reader(bytes(side), 1)
    count = reader.varint()
    if not 1 <= count <= MAX_SCANS:
        raise FormatError("corrupted JPEG side (scan count)")
    chunks, records = [], []
    for _ in range(count):
        chunks.append(reader.take(reader.varint()))
        flags = reader.byte()
        pad_rule, eob_rule = flags & 3, flags >> _EOB_SHIFT & 3
        if flags >> 4 or pad_rule > hf.PAD_LISTED or eob_rule > hp.EOB_LISTED:
            raise FormatError("corrupted JPEG side (scan flags)")
        paddings = reader.take(reader.varint()) if pad_rule == hf.PAD_LISTED else b""
        runs = _NO_RUNS
        if eob_rule == hp.EOB_LISTED:
            listed = [reader.varint() for _ in range(_count(reader, len(side)))]
            if not all(1 <= n <= hp.LONGEST_RUN for n in listed):
                raise FormatError("corrupted JPEG side (EOB runs)")
            runs = np.array(listed, np.int64)
        holes, previous = [], 0
        for _ in range(_count(reader, len(side))):
            cut = previous + reader.varint()
            previous = cut + reader.varint()
            holes.append((cut, previous, reader.take(reader.varint())))
        records.append(_Record(pad_rule, paddings, eob_rule, runs, tuple(holes), reader.take(reader.varint())))
    trailer = reader.take(reader.varint())
    if reader.pos != len(side):
        raise FormatError("corrupted JPEG side (bytes after its end)")
    try:
        headers = read_headers(chunks)
    except MarkerError as e:
        raise FormatError(f"corrupted JPEG side ({e})") from None
    for scan, record in zip(headers.scans, records):
        rows, cols = _layout(headers.frame, scan)[1:3]
        if record.holes and record.holes[-1][1] > rows * cols:
            raise FormatError("corrupted JPEG side (a hole past the scan's end)")
    return headers, chunks, records, trailer


def _count(reader: Reader, limit: int) -> int:
    """A list's length, which cannot exceed the side's."""
    n = reader.varint()
    if n > limit:
        raise FormatError("corrupted JPEG side (list length)")
    return n
