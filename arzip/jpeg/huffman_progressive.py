"""Huffman-coded JPEG data, progressive scans (T.81 G.1.2): DC first and refinement scans, AC
first and refinement scans with their EOB runs and correction bits.

As in arzip.jpeg.huffman, the encoder is libjpeg's (jcphuff.c), which is what nearly every
progressive file was written by; what it leaves to the encoder is where an EOB run ends. libjpeg
ends one before a block that codes a coefficient, at 0x7FFF blocks, at a restart, and in a
refinement scan when more than 937 correction bits (MAX_CORR_BITS 1000 - 64 + 1) wait for it.
Other encoders end runs elsewhere (some never make one longer than a block), so the decoder
records every run it reads, and the encoder can follow either libjpeg's rule (EOB_LIBJPEG),
one block per run (EOB_SINGLE), or the recorded list (EOB_LISTED).

Decoding follows libjpeg's jdphuff.c, stopping (as the sequential decoder does) at anything an
encoder would not have written: a correction coded as more than one bit, a run past the band.

A progressive scan visits every block of its component(s) for a few bits each, so the cost per
block matters more than per coefficient: the AC kernels find a block's coefficients of interest
as a bit mask made in natural order (a loop the compiler vectorises) and turned into zig-zag
order bit by bit, instead of walking the band in zig-zag order. AC scans hold one component,
which the caller passes as p0.

Longer than 400 lines: the four progressive scan kinds, each decoder beside its encoder.
"""
from __future__ import annotations

import numpy as np

from ..native import kernel
from .huffman import (
    BAD_CODE, BAD_RESTART, BLOCK_ROOM, COMPLETE, DONE, H_CUT, H_RESUME, L_AC, L_DC, L_DX, L_DY, L_HMUL, L_PLANE, L_VMUL,
    NEED_ROOM, NO_CODE, OUT_OF_RANGE, R_HOLES, R_PADS, R_RUNS, R_TAIL, S_ACC, S_BE, S_EOBRUN, S_HOLE, S_M, S_NBITS,
    S_OUT, S_PAD, S_PRED, S_RESUMED, S_RUN, TRUNCATED, extend, fill, finish, hole_room, lowest_bit, magnitude, padding, put,
    put_hole, put_restart, put_whole, restart, skip_damage, symbol)
from .markers import ZIGZAG

EOB_LIBJPEG, EOB_SINGLE, EOB_LISTED = 0, 1, 2
LONGEST_RUN = 0x7FFF  # an EOB run codes at most 14 bits beyond its leading 1
MAX_CORRECTIONS = 937  # libjpeg's MAX_CORR_BITS - DCTSIZE2 + 1
UNZIGZAG = np.argsort(ZIGZAG).astype(np.int64)  # natural index -> zig-zag position


@kernel(inline="always")
def band_of(ss, se):
    """Which natural indices lie in zig-zag band ss..se."""
    band = np.zeros(64, np.bool_)
    for k in range(ss, se + 1):
        band[ZIGZAG[k]] = True
    return band


@kernel(inline="always")
def to_zigzag(natural):
    """A mask over natural indices as a mask over zig-zag positions."""
    mask = np.int64(0)
    while natural != 0:
        mask |= np.int64(1) << UNZIGZAG[lowest_bit(natural)]
        natural &= natural - 1
    return mask


@kernel(inline="always")
def corrected(coef, bit, one):
    """A coefficient already nonzero after its correction bit (libjpeg: only where the bit is clear)."""
    if bit and (coef & one) == 0:
        return coef + (one if coef >= 0 else -one)
    return coef


@kernel()
def decode_progressive(data, start, end, layout, mcus_x, mcus_y, restart_interval, ss, se, ah, al,
                       fast, maxcode, offset, values, p0, p1, p2, p3, pads, holes, runs, result):
    """Decode one progressive scan into the planes; runs receives the length of every EOB run,
    pads, holes and result as for decode_sequential."""
    total = mcus_x * mcus_y
    pred = np.zeros(4, np.int64)
    band = band_of(ss, se)
    acc, nbits, pos, phantom = np.int64(0), 0, start, 0
    npads, nholes, nruns, m, eobrun, resumed = 0, 0, 0, 0, 0, False
    one = 1 << al
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
                eobrun = 0
            else:
                status = BAD_RESTART
        resumed = False
        my = m // mcus_x
        mx = m - my * mcus_x
        for b in range(layout.shape[0] if status == COMPLETE else 0):
            c = layout[b, L_PLANE]
            by = my * layout[b, L_VMUL] + layout[b, L_DY]
            bx = mx * layout[b, L_HMUL] + layout[b, L_DX]
            if nbits < 32:
                acc, nbits, pos, phantom = fill(data, end, acc, nbits, pos, phantom)
            if ss == 0 and ah == 0:
                s, length = symbol(acc, nbits, layout[b, L_DC], fast, maxcode, offset, values)
                if length == 0 or s > 15:
                    status = BAD_CODE
                    break
                nbits -= length + s
                if s:
                    pred[c] += extend((acc >> nbits) & ((1 << s) - 1), s)
                v = pred[c] << al
                if v < -32768 or v > 32767:
                    status = OUT_OF_RANGE
                    break
                if c == 0:  # written out: a helper taking the planes would cost their reference counts
                    p0[by, bx, 0] = v
                elif c == 1:
                    p1[by, bx, 0] = v
                elif c == 2:
                    p2[by, bx, 0] = v
                else:
                    p3[by, bx, 0] = v
            elif ss == 0:
                nbits -= 1
                if (acc >> nbits) & 1:
                    if c == 0:
                        p0[by, bx, 0] |= one
                    elif c == 1:
                        p1[by, bx, 0] |= one
                    elif c == 2:
                        p2[by, bx, 0] |= one
                    else:
                        p3[by, bx, 0] |= one
            elif ah == 0 and eobrun > 0:
                eobrun -= 1
            elif ah == 0:
                k = ss
                while k <= se:
                    if nbits < 32:
                        acc, nbits, pos, phantom = fill(data, end, acc, nbits, pos, phantom)
                    s, length = symbol(acc, nbits, layout[b, L_AC], fast, maxcode, offset, values)
                    if length == 0:
                        status = BAD_CODE
                        break
                    nbits -= length
                    r = s >> 4
                    s &= 15
                    if s:
                        k += r
                        if k > se:
                            status = BAD_CODE
                            break
                        nbits -= s
                        v = extend((acc >> nbits) & ((1 << s) - 1), s) << al
                        if v < -32768 or v > 32767:
                            status = OUT_OF_RANGE
                            break
                        p0[by, bx, ZIGZAG[k]] = v
                        k += 1
                    elif r == 15:
                        if k + 16 > se + 1:
                            status = BAD_CODE
                            break
                        k += 16
                    else:
                        nbits -= r
                        eobrun = (1 << r) + ((acc >> nbits) & ((1 << r) - 1)) - 1
                        runs[nruns] = eobrun + 1
                        nruns += 1
                        break
            else:
                k = ss
                while eobrun == 0 and k <= se:
                    if nbits < 32:
                        acc, nbits, pos, phantom = fill(data, end, acc, nbits, pos, phantom)
                    s, length = symbol(acc, nbits, layout[b, L_AC], fast, maxcode, offset, values)
                    if length == 0 or (s & 15) > 1:
                        status = BAD_CODE
                        break
                    nbits -= length
                    r = s >> 4
                    value = 0
                    if s & 15:
                        nbits -= 1
                        value = one if (acc >> nbits) & 1 else -one
                    elif r != 15:
                        nbits -= r
                        eobrun = (1 << r) + ((acc >> nbits) & ((1 << r) - 1))
                        runs[nruns] = eobrun
                        nruns += 1
                        break
                    placed = False  # pass r coefficients still zero, correcting the others, then place value
                    while k <= se:
                        z = ZIGZAG[k]
                        k += 1
                        coef = np.int64(p0[by, bx, z])
                        if coef != 0:
                            if nbits < 32:
                                acc, nbits, pos, phantom = fill(data, end, acc, nbits, pos, phantom)
                            nbits -= 1
                            p0[by, bx, z] = corrected(coef, (acc >> nbits) & 1, one)
                        elif r == 0:
                            p0[by, bx, z] = value
                            placed = True
                            break
                        else:
                            r -= 1
                    if not placed:
                        status = BAD_CODE
                        break
                if eobrun > 0 and status == COMPLETE:  # in an EOB run: a correction bit per nonzero coefficient
                    natural = np.int64(0)
                    for i in range(64):
                        natural |= np.int64((p0[by, bx, i] != 0) & band[i]) << i
                    nonzero = to_zigzag(natural) & ~((np.int64(1) << k) - 1) if k <= se else np.int64(0)
                    while nonzero != 0:
                        z = ZIGZAG[lowest_bit(nonzero)]
                        nonzero &= nonzero - 1
                        if nbits < 32:
                            acc, nbits, pos, phantom = fill(data, end, acc, nbits, pos, phantom)
                        nbits -= 1
                        p0[by, bx, z] = corrected(np.int64(p0[by, bx, z]), (acc >> nbits) & 1, one)
                    eobrun -= 1
            if status != COMPLETE:
                break
        if status == COMPLETE and nbits < phantom:
            status = TRUNCATED
        if status == COMPLETE:
            m += 1
            continue
        m, pos = skip_damage(data, start, end, mark, m, restart_interval, total, status == BAD_RESTART, holes, nholes)
        nholes += 1
        acc, nbits, phantom, resumed, eobrun = np.int64(0), 0, 0, True, 0  # after the RSTn, which the hole holds
        pred[:] = 0
    result[R_HOLES] = nholes
    result[R_RUNS] = nruns
    result[R_PADS] = npads
    result[R_TAIL] = end
    if nholes == 0 or holes[nholes - 1, H_RESUME] < total:
        finish(data, start, end, acc, nbits, pos, phantom, pads, npads, result)


@kernel(inline="always")
def put_eobrun(out, o, acc, nbits, eobrun, t, code, size, corrections, be):
    """Write a pending EOB run and the correction bits that wait for it: (o, acc, nbits, ok)."""
    if eobrun == 0:
        return o, acc, nbits, True
    n, _ = magnitude(eobrun)
    n -= 1
    s = n << 4
    if size[t, s] == 0 or n > 14:
        return o, acc, nbits, False
    o, acc, nbits = put(out, o, acc, nbits, (code[t, s] << n) | (eobrun & ((1 << n) - 1)), size[t, s] + n)
    for i in range(be):
        o, acc, nbits = put(out, o, acc, nbits, corrections[i], 1)
    return o, acc, nbits, True


@kernel(inline="always")
def put_corrections(out, o, acc, nbits, corrections, first, count):
    for i in range(first, first + count):
        o, acc, nbits = put(out, o, acc, nbits, corrections[i], 1)
    return o, acc, nbits


@kernel()
def encode_progressive(layout, mcus_x, mcus_y, restart_interval, ss, se, ah, al, pad_mode, pads, holes, raw,
                       eob_mode, runs, code, size, p0, p1, p2, p3, state, out, corrections, trace):
    """Encode a progressive scan as encode_sequential does; EOB runs end by eob_mode (runs: the
    listed lengths), corrections holds the bits that wait for a run (room for the longest run's)."""
    total = mcus_x * mcus_y
    m, acc, nbits, o, pad_index = state[S_M], state[S_ACC], state[S_NBITS], state[S_OUT], state[S_PAD]
    eobrun, be, run_index, hole, resumed = state[S_EOBRUN], state[S_BE], state[S_RUN], state[S_HOLE], state[S_RESUMED]
    pred = state[S_PRED:S_PRED + 4]
    t = layout[0, L_AC]
    band = band_of(ss, se)
    status = DONE
    while True:
        if o + layout.shape[0] * BLOCK_ROOM + (be >> 2) + 64 + hole_room(holes, hole) > out.shape[0]:
            status = NEED_ROOM
            break
        if hole < holes.shape[0] and m == holes[hole, H_CUT]:
            o, m = put_hole(out, o, acc, nbits, raw, holes, hole)
            acc, nbits, hole, eobrun, be, resumed = np.int64(0), 0, hole + 1, 0, 0, 1
            pred[:] = 0
            continue
        if trace.shape[0] > total:
            o, nbits = put_whole(out, o, acc, nbits)
            trace[min(m, total)] = o
        if m >= total or (restart_interval > 0 and m > 0 and m % restart_interval == 0 and not resumed):
            o, acc, nbits, ok = put_eobrun(out, o, acc, nbits, eobrun, t, code, size, corrections, be)
            if not ok:
                status = NO_CODE
                break
            run_index += 1 if eobrun > 0 else 0
            eobrun = be = 0
            if m >= total:
                bits, count = padding(nbits, pad_mode, pads, pad_index)
                o, acc, nbits = put(out, o, acc, nbits, bits, count)
                o, nbits = put_whole(out, o, acc, nbits)
                break
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
            if ss == 0:  # written out: a helper taking the planes would cost their reference counts
                if c == 0:
                    v = np.int64(p0[by, bx, 0]) >> al
                elif c == 1:
                    v = np.int64(p1[by, bx, 0]) >> al
                elif c == 2:
                    v = np.int64(p2[by, bx, 0]) >> al
                else:
                    v = np.int64(p3[by, bx, 0]) >> al
            if ss == 0 and ah > 0:
                o, acc, nbits = put(out, o, acc, nbits, v & 1, 1)
                continue
            if ss == 0:
                n, bits = magnitude(v - pred[c])
                pred[c] = v
                td = layout[b, L_DC]
                if n > 15 or size[td, n] == 0:
                    status = NO_CODE
                    break
                o, acc, nbits = put(out, o, acc, nbits, (code[td, n] << n) | bits, size[td, n] + n)
                continue
            coded = np.int64(0)  # natural indices whose value codes a coefficient (a first scan's, or one becoming nonzero)
            older = np.int64(0)  # natural indices nonzero before a refinement scan
            if ah == 0:
                for i in range(64):
                    v = np.int32(p0[by, bx, i])
                    coded |= np.int64((((v if v >= 0 else -v) >> al) != 0) & band[i]) << i
            else:
                for i in range(64):
                    v = np.int32(p0[by, bx, i])
                    a = (v if v >= 0 else -v) >> al
                    coded |= np.int64((a == 1) & band[i]) << i
                    older |= np.int64((a > 1) & band[i]) << i
            coded = to_zigzag(coded)
            older = to_zigzag(older)
            last_coded = -1
            remaining = coded
            while remaining != 0:
                last_coded = lowest_bit(remaining)
                remaining &= remaining - 1
            if be + 64 > corrections.shape[0]:
                status = NO_CODE
                break
            r = 0
            last = ss - 1
            br, br_start = 0, be  # this block's correction bits wait in corrections[br_start:]
            nonzero = coded | older
            while nonzero != 0:
                k = lowest_bit(nonzero)
                nonzero &= nonzero - 1
                r += k - last - 1
                last = k
                v = np.int64(p0[by, bx, ZIGZAG[k]])
                a = (v if v >= 0 else -v) >> al
                if r > 15 and k <= last_coded:  # ZRLs, each followed (in refinement) by the bits passed so far
                    o, acc, nbits, ok = put_eobrun(out, o, acc, nbits, eobrun, t, code, size, corrections, be)
                    if not ok or size[t, 0xF0] == 0:
                        status = NO_CODE
                        break
                    run_index += 1 if eobrun > 0 else 0
                    eobrun = be = 0
                    while r > 15:
                        o, acc, nbits = put(out, o, acc, nbits, code[t, 0xF0], size[t, 0xF0])
                        r -= 16
                        o, acc, nbits = put_corrections(out, o, acc, nbits, corrections, br_start, br)
                        br, br_start = 0, 0
                if (older >> k) & 1:
                    corrections[br_start + br] = a & 1
                    br += 1
                    continue
                o, acc, nbits, ok = put_eobrun(out, o, acc, nbits, eobrun, t, code, size, corrections, be)
                n, bits = magnitude(a if v > 0 else -a)
                s = (r & 15) << 4 | n
                if not ok or n > 15 or size[t, s] == 0:
                    status = NO_CODE
                    break
                run_index += 1 if eobrun > 0 else 0
                eobrun = be = 0
                o, acc, nbits = put(out, o, acc, nbits, (code[t, s] << n) | bits, size[t, s] + n)
                o, acc, nbits = put_corrections(out, o, acc, nbits, corrections, br_start, br)
                br, br_start, r = 0, 0, 0
            if status != DONE:
                break
            be += br
            if last < se or br > 0:
                eobrun += 1
                policy = eob_mode == EOB_LIBJPEG or (eob_mode == EOB_LISTED and run_index >= runs.shape[0])
                limit = LONGEST_RUN if policy else 1 if eob_mode == EOB_SINGLE else runs[run_index]
                if eobrun >= limit or (policy and be > MAX_CORRECTIONS):
                    o, acc, nbits, ok = put_eobrun(out, o, acc, nbits, eobrun, t, code, size, corrections, be)
                    if not ok:
                        status = NO_CODE
                        break
                    run_index += 1
                    eobrun = be = 0
        if status != DONE:
            break
        m += 1
    state[S_M], state[S_ACC], state[S_NBITS], state[S_OUT], state[S_PAD] = m, acc, nbits, o, pad_index
    state[S_EOBRUN], state[S_BE], state[S_RUN], state[S_HOLE], state[S_RESUMED] = eobrun, be, run_index, hole, resumed
    return status
