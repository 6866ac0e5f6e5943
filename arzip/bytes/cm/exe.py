"""The x86 model (methods 12 and 13): machine code is a stream of instructions, and what a byte is (an
opcode, a ModRM byte, a displacement, an immediate) says more about it than the bytes before it
do. A small x86-64 length decoder follows the instructions byte by byte (prefixes, the one-,
two- and three-byte opcode maps, ModRM, SIB, displacements and immediates; VEX and other rare
forms only approximately: a wrong guess resynchronises within a few instructions), and its
state keys three contexts: the kind of byte with the opcode and the two instructions before it;
the kind with the opcode, the ModRM byte and the byte's place in its field; and the kind with the
opcode and the byte that was at this place of the last displacement or immediate of the same
opcode (a constant or an offset an instruction keeps using). They hold the state only in the
block's x86 code regions (arzip/bytes/branch.py's, written in the block's payload; elsewhere the
mixer sees 0 for them). models/EXPERIMENTS.md C41.
"""
from __future__ import annotations

import numpy as np

from ...mixing.hashing import h32
from ...native import kernel

CONTEXTS = 3
# immediate kinds: none, 1 byte, 2 bytes, 2 or 4 (the operand size), 2 + 1 (enter), an address
# (8, or 4 with 67), 4 or 8 (mov r64, imm64 with REX.W), group 3 (1 or z when ModRM.reg < 2)
NO, IB, IW, IZ, IW_IB, MOFFS, IV, GROUP3_B, GROUP3_Z = range(9)


def _one_byte_map() -> tuple[np.ndarray, np.ndarray]:
    """(whether each one-byte opcode has a ModRM byte, its immediate kind)."""
    modrm = np.zeros(256, dtype=np.int64)
    imm = np.zeros(256, dtype=np.int64)
    for base in range(0, 0x40, 8):  # the ALU block: r/m forms, then AL, ib and eAX, iz
        modrm[base:base + 4] = 1
        imm[base + 4], imm[base + 5] = IB, IZ
    modrm[[0x62, 0x63, 0x69, 0x6B, 0xC0, 0xC1, 0xC4, 0xC5, 0xC6, 0xC7, 0xD0, 0xD1, 0xD2, 0xD3, 0xF6, 0xF7, 0xFE, 0xFF]] = 1
    modrm[0x80:0x90] = 1
    modrm[0xD8:0xE0] = 1
    imm[[0x6A, 0x6B, 0x80, 0x82, 0x83, 0xA8, 0xC0, 0xC1, 0xC6, 0xCD, 0xD4, 0xD5, 0xEB]] = IB
    imm[0x70:0x80] = IB
    imm[0xB0:0xB8] = IB
    imm[0xE0:0xE8] = IB
    imm[[0x68, 0x69, 0x81, 0xA9, 0xC7, 0xE8, 0xE9]] = IZ
    imm[[0xC2, 0xCA]] = IW
    imm[0xC8] = IW_IB
    imm[0xA0:0xA4] = MOFFS
    imm[0xB8:0xC0] = IV
    imm[0xF6], imm[0xF7] = GROUP3_B, GROUP3_Z
    return modrm, imm


def _two_byte_map() -> tuple[np.ndarray, np.ndarray]:
    """The same for the opcodes after 0F (0F 38 and 0F 3A are the three-byte maps, below)."""
    modrm = np.ones(256, dtype=np.int64)
    imm = np.zeros(256, dtype=np.int64)
    no_modrm = [0x05, 0x06, 0x07, 0x08, 0x09, 0x0B, 0x0E, 0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x37, 0x77,
                0xA0, 0xA1, 0xA2, 0xA8, 0xA9, 0xAA, *range(0x80, 0x90), *range(0xC8, 0xD0)]
    modrm[no_modrm] = 0
    imm[0x80:0x90] = IZ  # jcc rel32
    imm[[0x70, 0x71, 0x72, 0x73, 0xA4, 0xAC, 0xBA, 0xC2, 0xC4, 0xC5, 0xC6]] = IB
    return modrm, imm


ONE_MODRM, ONE_IMM = _one_byte_map()
TWO_MODRM, TWO_IMM = _two_byte_map()
PREFIXES = np.zeros(256, dtype=np.int64)
PREFIXES[[0x26, 0x2E, 0x36, 0x3E, 0x64, 0x65, 0x66, 0x67, 0xF0, 0xF2, 0xF3]] = 1
PREFIXES[0x40:0x50] = 2  # REX

# the decoder's state, kept between calls: what the next byte is, the opcode (with its map in
# bits 8-9), the two opcodes before it, bytes of displacement and of immediate still to come,
# the operand-size, address-size and REX.W flags, the ModRM byte, the byte's place in its field
KIND, OPCODE, BEFORE, BEFORE2, DISP_LEFT, IMM_LEFT, FLAGS, MODRM, PLACE = range(9)
LAST = 16  # then the last byte seen at each (opcode, displacement or immediate, place)
STATE = LAST + 1024 * 2 * 8
# kinds of byte
START, ESCAPE, ESCAPE3, MODRM_BYTE, SIB, DISP, IMM = range(7)
OPERAND16, ADDRESS32, WIDE = 1, 2, 4


def fresh() -> np.ndarray:
    """The decoder's state before a segment's first byte: an instruction starts there."""
    return np.zeros(STATE, dtype=np.int64)


@kernel(inline="always")
def compute(ctx, at, state, c1, in_code):
    """ctx[at:at + CONTEXTS] for the next byte, from the decoder's state where the byte is in x86
    code (in_code), else fixed ones (the engine gives the mixer 0 for them there)."""
    if not in_code:
        ctx[at], ctx[at + 1], ctx[at + 2] = h32(23 << 40), h32(24 << 40), h32(25 << 40)
        return
    kind = state[KIND]
    ctx[at] = h32((kind << 28) + (state[OPCODE] << 18) + (state[BEFORE] << 8) + (state[FLAGS] << 5) + (21 << 40)
                  + (state[BEFORE2] << 46))
    ctx[at + 1] = h32((kind << 28) + (state[OPCODE] << 18) + (state[MODRM] << 10) + (min(state[PLACE], 7) << 7)
                      + ((c1 if kind == DISP or kind == IMM else 0) << 32) + (22 << 40))
    operand = kind == DISP or kind == IMM
    last = state[_last_slot(state)] if operand else 0
    ctx[at + 2] = h32((kind << 28) + (state[OPCODE] << 18) + (min(state[PLACE], 7) << 15) + (last << 4) + (26 << 40)
                      + ((state[MODRM] if operand else state[BEFORE]) << 32))


@kernel(inline="always")
def _last_slot(state):
    """Where the last byte at this (opcode, field, place) is kept."""
    return LAST + ((state[OPCODE] & 1023) * 2 + (state[KIND] == IMM)) * 8 + min(state[PLACE], 7)


@kernel(inline="always")
def _operands(state, has_modrm, imm_kind):
    """After an opcode byte: a ModRM byte next, or the immediate, or the next instruction."""
    flags = state[FLAGS]
    if imm_kind == IB:
        n = 1
    elif imm_kind == IW:
        n = 2
    elif imm_kind == IZ:
        n = 2 if flags & OPERAND16 else 4
    elif imm_kind == IW_IB:
        n = 3
    elif imm_kind == MOFFS:
        n = 4 if flags & ADDRESS32 else 8
    elif imm_kind == IV:
        n = 8 if flags & WIDE else (2 if flags & OPERAND16 else 4)
    else:
        n = 0  # group 3's immediate depends on ModRM.reg: set when the ModRM byte comes
    state[IMM_LEFT] = n
    state[DISP_LEFT] = 0
    state[PLACE] = 0
    if has_modrm:
        state[KIND] = MODRM_BYTE
    elif n > 0:
        state[KIND] = IMM
    else:
        _end(state)


@kernel(inline="always")
def _end(state):
    """The instruction is complete: the next byte starts one."""
    state[BEFORE2] = state[BEFORE]
    state[BEFORE] = state[OPCODE]
    state[KIND] = START
    state[FLAGS] = 0
    state[MODRM] = 0
    state[PLACE] = 0


@kernel(inline="always")
def _operand_next(state):
    """After the ModRM (and SIB) byte: the displacement, else the immediate, else the next instruction."""
    if state[DISP_LEFT] > 0:
        state[KIND] = DISP
    elif state[IMM_LEFT] > 0:
        state[KIND] = IMM
    else:
        _end(state)


@kernel(inline="always")
def after(c, state):
    """Advance the decoder past byte c."""
    kind = state[KIND]
    if kind == START:
        prefix = PREFIXES[c]
        if prefix == 1:
            if c == 0x66:
                state[FLAGS] |= OPERAND16
            elif c == 0x67:
                state[FLAGS] |= ADDRESS32
            state[PLACE] += 1
        elif prefix == 2:
            if c & 8:
                state[FLAGS] |= WIDE
            state[PLACE] += 1
        elif c == 0x0F:
            state[KIND] = ESCAPE
        else:
            state[OPCODE] = c
            _operands(state, ONE_MODRM[c], ONE_IMM[c])
    elif kind == ESCAPE:
        if c == 0x38 or c == 0x3A:
            state[OPCODE] = 0x300 | c
            state[KIND] = ESCAPE3
        else:
            state[OPCODE] = 0x100 | c
            _operands(state, TWO_MODRM[c], TWO_IMM[c])
    elif kind == ESCAPE3:
        three_a = state[OPCODE] == 0x33A
        state[OPCODE] = (0x200 | c) if three_a else (0x300 | c)
        _operands(state, 1, IB if three_a else NO)
    elif kind == MODRM_BYTE:
        state[MODRM] = c
        mod, reg, rm = c >> 6, (c >> 3) & 7, c & 7
        group = ONE_IMM[state[OPCODE]] if state[OPCODE] < 256 else NO
        if group == GROUP3_B and reg < 2:
            state[IMM_LEFT] = 1
        elif group == GROUP3_Z and reg < 2:
            state[IMM_LEFT] = 2 if state[FLAGS] & OPERAND16 else 4
        disp = 1 if mod == 1 else (4 if mod == 2 or (mod == 0 and rm == 5) else 0)
        state[DISP_LEFT] = disp
        state[PLACE] = 0
        if mod != 3 and rm == 4:
            state[KIND] = SIB
        else:
            _operand_next(state)
    elif kind == SIB:
        if (state[MODRM] >> 6) == 0 and (c & 7) == 5:
            state[DISP_LEFT] = 4
        _operand_next(state)
    elif kind == DISP:
        state[_last_slot(state)] = c
        state[DISP_LEFT] -= 1
        state[PLACE] += 1
        if state[DISP_LEFT] == 0:
            state[PLACE] = 0
            if state[IMM_LEFT] > 0:
                state[KIND] = IMM
            else:
                _end(state)
    else:  # IMM
        state[_last_slot(state)] = c
        state[IMM_LEFT] -= 1
        state[PLACE] += 1
        if state[IMM_LEFT] <= 0:
            _end(state)
