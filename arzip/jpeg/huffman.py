"""Huffman-coded JPEG data: the bit reader and writer every scan kernel shares, how a decoder
gets past damage, and the decoder and encoder of sequential (baseline and extended) scans.

Decoding and re-encoding must meet exactly, so the encoder is libjpeg's (jchuff.c): zero runs
of 16 as ZRL only before a nonzero coefficient, EOB after the last one, padding with 1 bits
before each RSTn and at the end of the scan. A decoder stops at the first thing such an encoder
would not have written (a code the table lacks, an RSTn missing where one is due, a value out
of range) or where the data runs out, and records a hole: the bytes from there to the next
RSTn are kept raw, and decoding resumes after it (skip_damage).

Kernels take the file as a uint8 array and the scan's data range; the four components' planes
as four int16 arrays (by, bx, 64), natural order (unused ones are any small array); and the
scan's blocks as `layout`, one row per block of an MCU: plane, row and column multipliers and
offsets (block row = MCU row * multiplier + offset), DC table, AC table (indices into the
table arrays, which hold only this scan's tables). Helpers never take the planes: an inlined
helper with array arguments costs their reference counts on every call, and the per-block
copies below are written out for the same reason.

Longer than 400 lines: the bit reader and writer, the damage rule and the sequential decoder
and encoder mirror one another, and an exact round trip is checked by reading them side by side.
"""
from __future__ import annotations

import numpy as np

from ..native import kernel
from .markers import FAST_BITS, ZIGZAG

BLOCK_ROOM = 512  # bytes one block can take, stuffing included: 64 codes of at most 16 + 15 bits, doubled
BIT_LENGTH = np.array([i.bit_length() for i in range(4096)], np.uint8)
DEBRUIJN = 0x03F79D71B4CB0A89  # finds the lowest set bit of a mask: (bit * DEBRUIJN) >> 58 indexes LOWEST_BIT
LOWEST_BIT = np.zeros(64, np.int64)
LOWEST_BIT[[((1 << i) * DEBRUIJN & (1 << 64) - 1) >> 58 for i in range(64)]] = np.arange(64)

# where a decoder stops: done, out of data, a code the table lacks, no RSTn where due, a value out of range
# (numpy integers, not Python ones: numba types a global int as a literal, and numba.pycc's typing
# then refuses a variable that holds two of them, which kept these kernels out of the native module)
COMPLETE, TRUNCATED, BAD_CODE, BAD_RESTART, OUT_OF_RANGE = (np.int64(v) for v in range(5))
# decoder results: where the bytes after the padded end start, paddings met, EOB runs met, holes
R_TAIL, R_PADS, R_RUNS, R_HOLES = 0, 1, 2, 3
# a hole (raw bytes in place of MCUs): MCU where it starts, MCU where coding resumes (after the
# RSTn that ends the hole, or the scan's MCU count), and its byte range (file positions; offsets
# into the raw bytes for the encoder)
H_CUT, H_RESUME, H_START, H_END = 0, 1, 2, 3
# encoder outcomes (numpy integers, as the decoder's)
DONE, NEED_ROOM, NO_CODE = (np.int64(v) for v in range(3))
# encoder state: next MCU, bit accumulator, its bit count, bytes written, DC predictions (4),
# paddings written, pending EOB run, buffered correction bits, EOB runs written, holes written,
# whether a hole has just written the RSTn due before the next MCU
S_M, S_ACC, S_NBITS, S_OUT, S_PRED, S_PAD, S_EOBRUN, S_BE, S_RUN, S_HOLE, S_RESUMED = 0, 1, 2, 3, 4, 8, 9, 10, 11, 12, 13
STATE_SIZE = 14
# padding of the last byte before each RSTn and at the end of a scan
PAD_ONES, PAD_ZEROS, PAD_LISTED = 0, 1, 2
# layout columns
L_PLANE, L_VMUL, L_HMUL, L_DY, L_DX, L_DC, L_AC = range(7)


@kernel(inline="always")
def fill(data, end, acc, nbits, pos, phantom):
    """Top the accumulator up to more than 56 bits, undoing FF 00 stuffing. At a marker or the
    end of the data it appends zero bits instead and counts them in phantom: a decoder that
    has consumed any (nbits < phantom) has run out of data."""
    while nbits <= 56:
        b = np.int64(0)
        if pos < end:
            b = np.int64(data[pos])
            if b != 0xFF:
                pos += 1
            elif pos + 1 < end and data[pos + 1] == 0:
                pos += 2
            else:
                b = 0
                phantom += 8
        else:
            phantom += 8
        acc = (acc << 8) | b
        nbits += 8
    return acc, nbits, pos, phantom


@kernel(inline="always")
def symbol(acc, nbits, t, fast, maxcode, offset, values):
    """(symbol, code length) of the code at the top of the accumulator (nbits >= 16); length 0
    where no code of the table matches."""
    e = fast[t, (acc >> (nbits - FAST_BITS)) & ((1 << FAST_BITS) - 1)]
    if e != 0:
        return e & 0xFF, e >> 8
    code = (acc >> (nbits - 16)) & 0xFFFF
    for length in range(FAST_BITS + 1, 17):
        c = code >> (16 - length)
        if c <= maxcode[t, length]:
            return values[t, c + offset[t, length]], length
    return 0, 0


@kernel(inline="always")
def extend(u, s):
    """The value of s magnitude bits u (T.81 F.2.2.1 EXTEND)."""
    return u - (1 << s) + 1 if u < (1 << (s - 1)) else u


@kernel(inline="always")
def unread(data, start, pos, count):
    """The file position `count` decoded bytes before pos (a stuffed FF is two bytes)."""
    for _ in range(count):
        if pos - 2 >= start and data[pos - 1] == 0 and data[pos - 2] == 0xFF:
            pos -= 2
        else:
            pos -= 1
    return pos


@kernel(inline="always")
def restart(data, end, acc, nbits, pos, phantom, number):
    """Pass the padding and the RSTn due here: (True, padding as count << 8 | value, position
    after the marker), or (False, 0, pos) where something else is found."""
    acc, nbits, pos, phantom = fill(data, end, acc, nbits, pos, phantom)
    real = nbits - phantom
    if real < 0 or real >= 8 or pos + 1 >= end or data[pos] != 0xFF or data[pos + 1] != 0xD0 + number:
        return False, 0, pos
    return True, (real << 8) | ((acc >> (nbits - real)) & ((1 << real) - 1)), pos + 2


@kernel(inline="always")
def finish(data, start, end, acc, nbits, pos, phantom, pads, npads, result):
    """After the last MCU: record the padding of the last byte, and where the bytes after it start."""
    acc, nbits, pos, phantom = fill(data, end, acc, nbits, pos, phantom)
    real = nbits - phantom
    partial = real & 7
    pads[npads] = (partial << 8) | ((acc >> (nbits - partial)) & ((1 << partial) - 1))
    result[R_TAIL] = unread(data, start, pos, real >> 3)
    result[R_PADS] = npads + 1


@kernel(inline="always")
def skip_damage(data, start, end, mark, m, restart_interval, total, bad_restart, holes, nholes):
    """Record a hole: from the byte holding the first bit after the last whole MCU (mark is the
    reader then) through the next RSTn. Coding resumes after that RSTn: at MCU m if m is a
    restart boundary and the RSTn follows at once (whatever its number), or after bytes that did
    not decode if its number is the one due; else at the next boundary its number names.
    Returns (that MCU, the position after the RSTn); (total, end) where no RSTn follows or the
    holes array runs short, the hole then running to the end of the scan's data."""
    acc, nbits, pos, phantom = mark
    real = nbits - phantom
    after = unread(data, start, pos, real >> 3)  # after the last whole MCU's last (padded) byte
    cut = unread(data, start, after, 1) if real & 7 else after
    resume, q = total, end
    if restart_interval > 0 and nholes + 2 < holes.shape[0]:
        q = cut
        while q + 1 < end and not (data[q] == 0xFF and 0xD0 <= data[q + 1] <= 0xD7):
            q += 1
        if q + 1 < end:
            number = np.int64(data[q + 1]) - 0xD0
            j = m // restart_interval
            if m > 0 and m == j * restart_interval and (q == after or (bad_restart and number == (j - 1) & 7)):
                resume = m
            else:
                j += 1
                resume = (j + ((number - (j - 1)) & 7)) * restart_interval
            q += 2
        if resume >= total:
            resume, q = total, end
    holes[nholes, H_CUT], holes[nholes, H_RESUME], holes[nholes, H_START], holes[nholes, H_END] = m, resume, cut, q
    return resume, q


@kernel()
def decode_sequential(data, start, end, layout, mcus_x, mcus_y, restart_interval,
                      fast, maxcode, offset, values, p0, p1, p2, p3, pads, holes, result):
    """Decode a sequential scan into the planes (module docstring). pads receives the padding
    before each RSTn and at the end (count << 8 | value), holes the damaged stretches (H_*),
    result the rest (R_*)."""
    total = mcus_x * mcus_y
    pred = np.zeros(4, np.int64)
    block = np.zeros(64, np.int16)  # decoded here, then copied: a view of the plane's block costs more
    acc, nbits, pos, phantom = np.int64(0), 0, start, 0
    npads, nholes, m, resumed = 0, 0, 0, False
    while m < total:
        mark = (acc, nbits, pos, phantom)
        status = COMPLETE
        if restart_interval > 0 and m > 0 and m % restart_interval == 0 and not resumed:
            ok, pad, after = restart(data, end, acc, nbits, pos, phantom, (m // restart_interval - 1) & 7)
            if ok:
                pads[npads] = pad
                npads += 1
                acc, nbits, pos, phantom = np.int64(0), 0, after, 0
                pred[:] = 0
            else:
                status = BAD_RESTART
        resumed = False
        my = m // mcus_x
        mx = m - my * mcus_x
        for b in range(layout.shape[0] if status == COMPLETE else 0):
            c = layout[b, L_PLANE]
            by = my * layout[b, L_VMUL] + layout[b, L_DY]
            bx = mx * layout[b, L_HMUL] + layout[b, L_DX]
            block[:] = 0
            if nbits < 32:
                acc, nbits, pos, phantom = fill(data, end, acc, nbits, pos, phantom)
            s, length = symbol(acc, nbits, layout[b, L_DC], fast, maxcode, offset, values)
            if length == 0 or s > 15:
                status = BAD_CODE
                break
            nbits -= length
            if s:
                nbits -= s
                pred[c] += extend((acc >> nbits) & ((1 << s) - 1), s)
                if pred[c] < -32768 or pred[c] > 32767:
                    status = OUT_OF_RANGE
                    break
            block[0] = pred[c]
            t = layout[b, L_AC]
            k = 1
            while k < 64:
                if nbits < 32:
                    acc, nbits, pos, phantom = fill(data, end, acc, nbits, pos, phantom)
                s, length = symbol(acc, nbits, t, fast, maxcode, offset, values)
                if length == 0:
                    status = BAD_CODE
                    break
                nbits -= length
                r = s >> 4
                s &= 15
                if s:
                    k += r
                    if k > 63:
                        status = BAD_CODE
                        break
                    nbits -= s
                    block[ZIGZAG[k]] = extend((acc >> nbits) & ((1 << s) - 1), s)
                    k += 1
                elif r == 15 and k <= 48:
                    k += 16
                elif r == 0:
                    break
                else:
                    status = BAD_CODE
                    break
            if c == 0:
                for i in range(64):
                    p0[by, bx, i] = block[i]
            elif c == 1:
                for i in range(64):
                    p1[by, bx, i] = block[i]
            elif c == 2:
                for i in range(64):
                    p2[by, bx, i] = block[i]
            else:
                for i in range(64):
                    p3[by, bx, i] = block[i]
            if status != COMPLETE:
                break
        if status == COMPLETE and nbits < phantom:
            status = TRUNCATED
        if status == COMPLETE:
            m += 1
            continue
        m, pos = skip_damage(data, start, end, mark, m, restart_interval, total, status == BAD_RESTART, holes, nholes)
        nholes += 1
        acc, nbits, phantom, resumed = np.int64(0), 0, 0, True  # after the RSTn, which the hole holds
        pred[:] = 0
    result[R_HOLES] = nholes
    result[R_PADS] = npads
    result[R_TAIL] = end
    if nholes == 0 or holes[nholes - 1, H_RESUME] < total:
        finish(data, start, end, acc, nbits, pos, phantom, pads, npads, result)


@kernel(inline="always")
def put(out, o, acc, nbits, bits, size):
    """Append `size` bits (at most 32) to the accumulator (fewer than 32 held), writing its whole
    bytes once it holds 32 or more, with a 00 stuffed after every FF."""
    acc = (acc << size) | bits
    nbits += size
    if nbits >= 32:
        o, nbits = put_whole(out, o, acc, nbits)
    return o, acc, nbits


@kernel(inline="always")
def put_whole(out, o, acc, nbits):
    """Write the accumulator's whole bytes: (o, bits left)."""
    while nbits >= 8:
        nbits -= 8
        b = (acc >> nbits) & 0xFF
        out[o] = b
        o += 1
        if b == 0xFF:
            out[o] = 0
            o += 1
    return o, nbits


@kernel(inline="always")
def magnitude(v):
    """(bit count, bits) that code value v (T.81 F.1.2.1: negative values as v - 1)."""
    a = v if v >= 0 else -v
    n = np.int64(BIT_LENGTH[a & 4095])
    while a >> n:
        n += 1
    return n, (v if v >= 0 else v - 1) & ((1 << n) - 1)


@kernel(inline="always")
def lowest_bit(mask):
    """The index of the lowest set bit of a nonzero int64."""
    return LOWEST_BIT[(((mask & -mask) * DEBRUIJN) >> 58) & 63]


@kernel(inline="always")
def padding(nbits, pad_mode, pads, index):
    """(bits, count) that fill the last byte: ones, zeros, or the listed value."""
    count = -nbits & 7
    value = (1 << count) - 1
    if pad_mode == PAD_ZEROS:
        value = 0
    elif pad_mode == PAD_LISTED and index < pads.shape[0]:
        value = np.int64(pads[index])
    return value & ((1 << count) - 1), count


@kernel(inline="always")
def put_restart(out, o, acc, nbits, pad_mode, pads, index, number):
    """Pad the last byte and write RSTn; the accumulator starts afresh."""
    bits, count = padding(nbits, pad_mode, pads, index)
    o, acc, nbits = put(out, o, acc, nbits, bits, count)
    o, nbits = put_whole(out, o, acc, nbits)
    out[o] = 0xFF
    out[o + 1] = 0xD0 + number
    return o + 2


@kernel(inline="always")
def put_hole(out, o, acc, nbits, raw, holes, index):
    """Write the accumulator's whole bytes, drop its other bits, then a hole's raw bytes: (o,
    the MCU to resume at)."""
    o, nbits = put_whole(out, o, acc, nbits)
    a, b = holes[index, H_START], holes[index, H_END]
    out[o:o + b - a] = raw[a:b]
    return o + b - a, holes[index, H_RESUME]


@kernel(inline="always")
def hole_room(holes, index):
    """Bytes out must hold for the hole at index (or none)."""
    return holes[index, H_END] - holes[index, H_START] + 16 if index < holes.shape[0] else 0


@kernel()
def encode_sequential(layout, mcus_x, mcus_y, restart_interval, pad_mode, pads, holes, raw,
                      code, size, p0, p1, p2, p3, state, out, trace):
    """Encode a sequential scan into out, its holes' raw bytes in place of their MCUs, and pad
    the last byte. Resumable: returns NEED_ROOM with its state saved when out may not hold what
    comes next; trace (when longer than the MCU count) receives the bytes written before each
    MCU encoded and at the end."""
    total = mcus_x * mcus_y
    m, acc, nbits, o, pad_index = state[S_M], state[S_ACC], state[S_NBITS], state[S_OUT], state[S_PAD]
    hole, resumed = state[S_HOLE], state[S_RESUMED]
    pred = state[S_PRED:S_PRED + 4]
    block = np.zeros(64, np.int64)  # zig-zag order
    room = layout.shape[0] * BLOCK_ROOM + 64
    status = DONE
    while True:
        if o + room + hole_room(holes, hole) > out.shape[0]:
            status = NEED_ROOM
            break
        if hole < holes.shape[0] and m == holes[hole, H_CUT]:
            o, m = put_hole(out, o, acc, nbits, raw, holes, hole)
            acc, nbits, hole, resumed = np.int64(0), 0, hole + 1, 1
            pred[:] = 0
            continue
        if trace.shape[0] > total:
            o, nbits = put_whole(out, o, acc, nbits)
            trace[min(m, total)] = o
        if m >= total:
            bits, count = padding(nbits, pad_mode, pads, pad_index)
            o, acc, nbits = put(out, o, acc, nbits, bits, count)
            o, nbits = put_whole(out, o, acc, nbits)
            break
        if restart_interval > 0 and m > 0 and m % restart_interval == 0 and not resumed:
            o = put_restart(out, o, acc, nbits, pad_mode, pads, pad_index, (m // restart_interval - 1) & 7)
            acc, nbits, pad_index = np.int64(0), 0, pad_index + 1
            pred[:] = 0
        resumed = 0
        my = m // mcus_x
        mx = m - my * mcus_x
        for b in range(layout.shape[0]):
            c = layout[b, L_PLANE]
            by = my * layout[b, L_VMUL] + layout[b, L_DY]
            bx = mx * layout[b, L_HMUL] + layout[b, L_DX]
            if c == 0:
                for k in range(64):
                    block[k] = p0[by, bx, ZIGZAG[k]]
            elif c == 1:
                for k in range(64):
                    block[k] = p1[by, bx, ZIGZAG[k]]
            elif c == 2:
                for k in range(64):
                    block[k] = p2[by, bx, ZIGZAG[k]]
            else:
                for k in range(64):
                    block[k] = p3[by, bx, ZIGZAG[k]]
            t = layout[b, L_DC]
            n, bits = magnitude(block[0] - pred[c])
            pred[c] = block[0]
            if n > 15 or size[t, n] == 0:
                status = NO_CODE
                break
            o, acc, nbits = put(out, o, acc, nbits, (code[t, n] << n) | bits, size[t, n] + n)
            t = layout[b, L_AC]
            nonzero = np.int64(0)  # bit k set where coefficient k is nonzero: only those cost work
            for k in range(1, 64):
                nonzero |= np.int64(block[k] != 0) << k
            last = 0
            while nonzero != 0:
                k = lowest_bit(nonzero)
                nonzero &= nonzero - 1
                r = k - last - 1
                last = k
                n, bits = magnitude(block[k])
                s = (r & 15) << 4 | n
                if (r > 15 and size[t, 0xF0] == 0) or n > 15 or size[t, s] == 0:
                    status = NO_CODE
                    break
                while r > 15:
                    o, acc, nbits = put(out, o, acc, nbits, code[t, 0xF0], size[t, 0xF0])
                    r -= 16
                o, acc, nbits = put(out, o, acc, nbits, (code[t, s] << n) | bits, size[t, s] + n)
            if last < 63 and status == DONE:
                if size[t, 0] == 0:
                    status = NO_CODE
                else:
                    o, acc, nbits = put(out, o, acc, nbits, code[t, 0], size[t, 0])
            if status != DONE:
                break
        if status != DONE:
            break
        m += 1
    state[S_M], state[S_ACC], state[S_NBITS], state[S_OUT], state[S_PAD] = m, acc, nbits, o, pad_index
    state[S_HOLE], state[S_RESUMED] = hole, resumed
    return status
