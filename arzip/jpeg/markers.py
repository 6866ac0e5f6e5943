"""A JPEG file's marker segments: where its scans are, and what its headers define for each scan.

A JPEG file is SOI, marker segments, and after each SOS segment entropy-coded data that runs
to the next marker other than RSTn (ITU T.81, annex B). This module reads the segments in
order, keeping the tables in effect (DQT, DHT, DRI) the way a decoder does, and refuses what
the entropy layer cannot rebuild exactly (arithmetic coding, lossless and hierarchical frames,
12-bit samples, DNL, a second frame, undefined tables).

The same reader serves both directions: `split` walks a whole file, and `read_headers` re-reads
the header bytes that side keeps verbatim, so the tables a scan is re-encoded with are by
construction those it was decoded with.

Longer than 400 lines: every marker a JPEG may hold is read here in file order, with the
check that refuses it, so that what is accepted can be seen in one place.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..native import kernel

SOI, EOI, SOS, DHT, DQT, DRI = 0xD8, 0xD9, 0xDA, 0xC4, 0xDB, 0xDD
MAX_SCANS = 256  # a progressive file has about 10; beyond this a file is refused (bounded work)
FAST_BITS = 9  # Huffman codes up to this long decode by one table lookup

# zig-zag position k -> natural index (row * 8 + column), T.81 figure A.6
ZIGZAG = np.array([
    0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5,
    12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7, 14, 21, 28,
    35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51,
    58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63], dtype=np.int64)

_REFUSED_FRAMES = {
    0xC3: "lossless JPEG (SOF3)", 0xC5: "hierarchical JPEG (SOF5)", 0xC6: "hierarchical JPEG (SOF6)",
    0xC7: "hierarchical lossless JPEG (SOF7)", 0xC8: "reserved JPEG extension (JPG marker)",
    0xC9: "arithmetic-coded JPEG (SOF9)", 0xCA: "arithmetic-coded JPEG (SOF10)",
    0xCB: "arithmetic-coded lossless JPEG (SOF11)", 0xCD: "arithmetic-coded hierarchical JPEG (SOF13)",
    0xCE: "arithmetic-coded hierarchical JPEG (SOF14)", 0xCF: "arithmetic-coded hierarchical JPEG (SOF15)",
    0xCC: "arithmetic-coded JPEG (DAC)", 0xDC: "JPEG with a DNL marker", 0xDE: "hierarchical JPEG (DHP)",
    0xDF: "hierarchical JPEG (EXP)", 0xF7: "JPEG-LS (SOF55)", 0xF8: "JPEG-LS (LSE)",
}


_NO_TABLE = np.zeros(64, np.uint16)
_NO_TABLE.flags.writeable = False


class MarkerError(Exception):
    """Headers this layer cannot take apart (from a file), or damaged header bytes (from side)."""


@dataclass(frozen=True)
class HuffmanSpec:
    """A DHT table as defined: how many codes of each length 1..16, and their symbols in order."""
    counts: bytes
    symbols: bytes

    def decoding(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The decoder's tables: a lookup of the first FAST_BITS bits ((length << 8) | symbol, 0
        for longer codes), and for longer codes the canonical decoder's largest code per length,
        offset of its symbols, and the symbols."""
        fast = np.zeros(1 << FAST_BITS, np.int32)
        maxcode = np.full(17, -1, np.int32)
        offset = np.zeros(17, np.int32)
        values = np.zeros(256, np.int32)
        values[:len(self.symbols)] = np.frombuffer(self.symbols, np.uint8)
        code = index = 0
        for length in range(1, 17):
            count = self.counts[length - 1]
            if count:
                offset[length] = index - code
                maxcode[length] = code + count - 1
                shift = FAST_BITS - length
                for i in range(count if length <= FAST_BITS else 0):
                    fast[(code + i) << shift:(code + i + 1) << shift] = length << 8 | self.symbols[index + i]
            code, index = (code + count) << 1, index + count
        return fast, maxcode, offset, values

    def encoding(self) -> tuple[np.ndarray, np.ndarray]:
        """The encoder's tables: per symbol its code and length (0 where the table lacks the
        symbol; of a symbol listed twice, its first code)."""
        code_of = np.zeros(256, np.int64)
        size_of = np.zeros(256, np.int64)
        code = index = 0
        for length in range(1, 17):
            for _ in range(self.counts[length - 1]):
                if not size_of[self.symbols[index]]:
                    code_of[self.symbols[index]], size_of[self.symbols[index]] = code, length
                code, index = code + 1, index + 1
            code <<= 1
        return code_of, size_of


@dataclass(frozen=True)
class FrameComponent:
    ident: int
    h: int
    v: int
    quant_slot: int


@dataclass(frozen=True)
class Frame:
    """The SOF segment: image size and components (always 8-bit, Huffman-coded here)."""
    marker: int
    width: int
    height: int
    components: tuple[FrameComponent, ...]

    @property
    def progressive(self) -> bool:
        return self.marker == 0xC2

    @property
    def mcus(self) -> tuple[int, int]:
        """MCU rows and columns of an interleaved scan."""
        hmax = max(c.h for c in self.components)
        vmax = max(c.v for c in self.components)
        return _ceil_div(self.height, 8 * vmax), _ceil_div(self.width, 8 * hmax)

    def plane_blocks(self, index: int) -> tuple[int, int]:
        """A component's block rows and columns, padded to whole MCUs (what interleaved scans cover)."""
        c, (rows, cols) = self.components[index], self.mcus
        return rows * c.v, cols * c.h

    def coded_blocks(self, index: int) -> tuple[int, int]:
        """A component's own block rows and columns (what a scan of it alone covers, T.81 A.2.2)."""
        c = self.components[index]
        hmax = max(x.h for x in self.components)
        vmax = max(x.v for x in self.components)
        return _ceil_div(_ceil_div(self.height * c.v, vmax), 8), _ceil_div(_ceil_div(self.width * c.h, hmax), 8)


@dataclass(frozen=True)
class Scan:
    """An SOS segment with the tables and restart interval in effect when it starts."""
    components: tuple[int, ...]  # indices into Frame.components
    dc: tuple[HuffmanSpec | None, ...]  # per scan component; None where the scan needs none
    ac: tuple[HuffmanSpec | None, ...]
    ss: int
    se: int
    ah: int
    al: int
    restart_interval: int


@dataclass
class Headers:
    """The state of a reader of header segments in file order: the tables in effect, the frame,
    the scans met so far, and each component's quantisation table as latched by its first scan
    (as libjpeg latches it), or, for a component no scan has, its slot's table at the first scan."""
    frame: Frame | None = None
    scans: list[Scan] = field(default_factory=list)
    quant: list[np.ndarray | None] = field(default_factory=lambda: [None] * 4)
    dc: list[HuffmanSpec | None] = field(default_factory=lambda: [None] * 4)
    ac: list[HuffmanSpec | None] = field(default_factory=lambda: [None] * 4)
    restart_interval: int = 0
    latched: dict[int, np.ndarray] = field(default_factory=dict)
    at_first_scan: list[np.ndarray] = field(default_factory=list)
    coded: list[np.ndarray] = field(default_factory=list)  # per component: the last bit position coded per coefficient (-1: none)

    def component_quant(self) -> list[np.ndarray]:
        return [self.latched.get(i, self.at_first_scan[i]) for i in range(len(self.frame.components))]

    def read(self, marker: int, payload: bytes) -> None:
        """Take in one segment (payload without marker and length)."""
        if marker in _REFUSED_FRAMES:
            raise MarkerError(_REFUSED_FRAMES[marker])
        if marker in (0xC0, 0xC1, 0xC2):
            self._frame(marker, payload)
        elif marker == DHT:
            self._huffman(payload)
        elif marker == DQT:
            self._quant(payload)
        elif marker == DRI:
            if len(payload) != 2:
                raise MarkerError("DRI segment of a wrong length")
            self.restart_interval = payload[0] << 8 | payload[1]
        elif marker == SOS:
            self._scan(payload)
        elif marker == SOI:
            raise MarkerError("a second SOI marker")
        elif not (0xE0 <= marker <= 0xEF or marker == 0xFE or 0xD0 <= marker <= 0xD7 or marker == 0x01):
            raise MarkerError(f"unknown marker FF{marker:02X}")

    def _frame(self, marker: int, p: bytes) -> None:
        if self.frame is not None:
            raise MarkerError("a second frame (SOF) in one file")
        if len(p) < 6 or len(p) != 6 + 3 * p[5]:
            raise MarkerError("SOF segment of a wrong length")
        if p[0] != 8:
            raise MarkerError(f"{p[0]}-bit JPEG")
        height, width, count = p[1] << 8 | p[2], p[3] << 8 | p[4], p[5]
        if height == 0 or width == 0:
            raise MarkerError("JPEG of zero size (height defined by DNL)")
        if not 1 <= count <= 4:
            raise MarkerError(f"JPEG of {count} components")
        comps = tuple(FrameComponent(p[6 + 3 * i], p[7 + 3 * i] >> 4, p[7 + 3 * i] & 15, p[8 + 3 * i])
                      for i in range(count))
        if len({c.ident for c in comps}) != count:
            raise MarkerError("two components of one id")
        if any(not (1 <= c.h <= 4 and 1 <= c.v <= 4 and c.quant_slot <= 3) for c in comps):
            raise MarkerError("bad sampling factor or quantisation table number")
        self.frame = Frame(marker, width, height, comps)
        self.coded = [np.full(64, -1, np.int64) for _ in comps]

    def _huffman(self, p: bytes) -> None:
        pos = 0
        while pos < len(p):
            if pos + 17 > len(p) or p[pos] >> 4 > 1 or p[pos] & 15 > 3:
                raise MarkerError("bad DHT segment")
            counts = bytes(p[pos + 1:pos + 17])
            n = sum(counts)
            if n > 256 or pos + 17 + n > len(p):
                raise MarkerError("bad DHT segment")
            code = 0
            for length in range(1, 17):  # a canonical code must fit its lengths (T.81 annex C)
                code += counts[length - 1]
                if code > 1 << length:
                    raise MarkerError("bad Huffman table (more codes than fit)")
                code <<= 1
            spec = HuffmanSpec(counts, bytes(p[pos + 17:pos + 17 + n]))
            (self.ac if p[pos] >> 4 else self.dc)[p[pos] & 15] = spec
            pos += 17 + n

    def _quant(self, p: bytes) -> None:
        pos = 0
        while pos < len(p):
            wide, slot = p[pos] >> 4, p[pos] & 15
            size = 1 + 64 * (2 if wide else 1)
            if wide > 1 or slot > 3 or pos + size > len(p):
                raise MarkerError("bad DQT segment")
            raw = np.frombuffer(p, np.dtype(">u2") if wide else np.uint8, 64, pos + 1)
            table = np.zeros(64, np.uint16)
            table[ZIGZAG] = raw
            table.flags.writeable = False  # shared by the components that use it, and by Geometry
            self.quant[slot] = table
            pos += size

    def _scan(self, p: bytes) -> None:
        frame = self.frame
        if frame is None:
            raise MarkerError("SOS before SOF")
        if len(self.scans) >= MAX_SCANS:
            raise MarkerError(f"more than {MAX_SCANS} scans")
        if len(p) < 1 or not 1 <= p[0] <= 4 or len(p) != 4 + 2 * p[0]:
            raise MarkerError("bad SOS segment")
        ids = [c.ident for c in frame.components]
        picked, tables = [], []
        for i in range(p[0]):
            if p[1 + 2 * i] not in ids:
                raise MarkerError("SOS names a component the frame lacks")
            picked.append(ids.index(p[1 + 2 * i]))
            tables.append(p[2 + 2 * i])
        if len(set(picked)) != len(picked):
            raise MarkerError("SOS names a component twice")
        ss, se, ah, al = p[-3], p[-2], p[-1] >> 4, p[-1] & 15
        dc_needed, ac_needed = self._check_progression(picked, ss, se, ah, al)
        dc = tuple(self._table(self.dc, t >> 4, dc_needed) for t in tables)
        ac = tuple(self._table(self.ac, t & 15, ac_needed) for t in tables)
        if not self.scans:
            self.at_first_scan = [_NO_TABLE if self.quant[c.quant_slot] is None else self.quant[c.quant_slot]
                                  for c in frame.components]
        for i in picked:
            if i not in self.latched:
                table = self.quant[frame.components[i].quant_slot]
                if table is None:
                    raise MarkerError("missing quantisation table")
                self.latched[i] = table
        self.scans.append(Scan(tuple(picked), dc, ac, ss, se, ah, al, self.restart_interval))

    def _check_progression(self, picked: list[int], ss: int, se: int, ah: int, al: int) -> tuple[bool, bool]:
        """Refuse scans whose coefficients a re-encoder could not tell apart from another scan's:
        each bit of each coefficient is coded once, in order (libjpeg only warns). Returns
        whether the scan needs DC and AC Huffman tables."""
        if not self.frame.progressive:  # Ss, Se, Ah, Al are ignored (libjpeg only warns)
            if any(self.coded[i][0] >= 0 for i in picked):
                raise MarkerError("a component in two sequential scans")
            for i in picked:
                self.coded[i][:] = 0
            return True, True
        if se > 63 or ss > se or (ss == 0) != (se == 0) or (ss > 0 and len(picked) != 1) \
                or al > 13 or (ah and ah != al + 1):
            raise MarkerError("bad progressive scan parameters")
        for i in picked:
            band = self.coded[i][ss:se + 1]
            if np.any(band != (ah if ah else -1)):
                raise MarkerError("progressive scans out of order")
            band[:] = al
        return ss == 0 and ah == 0, ss > 0

    @staticmethod
    def _table(tables: list[HuffmanSpec | None], slot: int, needed: bool) -> HuffmanSpec | None:
        if not needed:
            return None
        if slot > 3 or tables[slot] is None:
            raise MarkerError("missing Huffman table")
        return tables[slot]


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def next_segment(buf: bytes, pos: int) -> tuple[int, int, int] | None:
    """(marker, payload start, end) of the marker segment at pos, fill bytes (FF) allowed before
    it; None where no whole segment starts there."""
    n = len(buf)
    if pos >= n or buf[pos] != 0xFF:
        return None
    q = pos + 1
    while q < n and buf[q] == 0xFF:
        q += 1
    if q >= n or buf[q] == 0:
        return None
    marker = buf[q]
    if marker in (SOI, EOI, 0x01) or 0xD0 <= marker <= 0xD7:
        return marker, q + 1, q + 1
    if q + 3 > n:
        return None
    length = buf[q + 1] << 8 | buf[q + 2]
    if length < 2 or q + 1 + length > n:
        return None
    return marker, q + 3, q + 1 + length


@kernel()
def scan_end(data, start):
    """Where the entropy-coded data that starts at `start` ends: at the first marker other than
    RSTn (fill bytes before it included in the marker), or at the end of the file."""
    n = data.shape[0]
    p = start
    while p + 1 < n:
        if data[p] == 0xFF:
            q = p + 1
            while q < n and data[q] == 0xFF:
                q += 1
            if q >= n:
                return n
            b = data[q]
            if b != 0 and not 0xD0 <= b <= 0xD7:
                return p
            p = q
        p += 1
    return n


@dataclass
class Layout:
    """A file split up: per scan the header bytes before it and where its data lies."""
    headers: Headers
    chunks: list[bytes]
    data: list[tuple[int, int]]
    trailer: bytes


def split(data: bytes) -> Layout:
    """Split a whole file. Before the first scan, headers this layer cannot read refuse the file;
    after a scan, everything from EOI, or from where the bytes stop forming segments it can read
    (a truncated file's garbage, a second frame), is trailer: kept raw, never decoded."""
    if data[:2] != b"\xff\xd8":
        raise MarkerError("not a JPEG (no SOI marker)")
    array = np.frombuffer(data, np.uint8)
    headers, chunks, ranges = Headers(), [], []
    chunk_start, pos = 0, 2
    while True:
        segment = next_segment(data, pos)
        if segment is None or segment[0] == EOI:
            if not ranges:
                raise MarkerError("no scan before the end of the headers")
            return Layout(headers, chunks, ranges, data[chunk_start:])
        marker, start, pos = segment
        try:
            headers.read(marker, data[start:pos])
        except MarkerError:
            if not ranges:
                raise
            return Layout(headers, chunks, ranges, data[chunk_start:])
        if marker == SOS:
            end = scan_end(array, pos)
            chunks.append(data[chunk_start:pos])
            ranges.append((pos, end))
            chunk_start = pos = end


def read_headers(chunks: list[bytes]) -> Headers:
    """Re-read the header bytes kept before each scan: each must be whole segments ending with
    the scan's SOS (the first starting with SOI)."""
    headers = Headers()
    for i, chunk in enumerate(chunks):
        pos = 0
        if i == 0:
            if chunk[:2] != b"\xff\xd8":
                raise MarkerError("headers do not start with SOI")
            pos = 2
        marker = None
        while pos < len(chunk):
            segment = next_segment(chunk, pos)
            if segment is None or segment[0] == EOI:
                raise MarkerError("headers are not whole marker segments")
            marker, start, pos = segment
            headers.read(marker, chunk[start:pos])
            if marker == SOS and pos != len(chunk):
                raise MarkerError("bytes after a scan header")
        if marker != SOS:
            raise MarkerError("headers without a scan header")
    return headers
