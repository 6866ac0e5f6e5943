"""One segment of bytes through the context-mixing coder, bit by bit, in one compiled loop for
both directions (the encoder reads each bit from data, the decoder writes it there).

Per byte: the hashed contexts (contexts.py, records.py), the match models' expected bytes
(match.py), and the byte network's hidden layer (arzip.bytes.exact's integer network, the
same one the older "model" blocks use). Per bit, the mixer's inputs are the stretched
probability of each context's cell (a line of 16 adaptive cells per context and nibble in one
hashed table), the match model's confidence signed by its expected bit, the network's logit and
a bias, and (method 7 on) the record guesses' confidences (records.py) and the 1-bit image
model's two cells (bitmap.py), and (method 9 on) a second match model's on contexts of at least
12 bytes, and (methods 12, 13, 15) the x86 model's cells (exe.py), and (method 15) the run
predictions' confidences (runs.py); weight vectors, each chosen by
its own context, are applied and their dot products averaged; three or five APMs refine the
result; the binary arithmetic coder codes the bit with it; then every cell, weight vector and
APM learns the bit. All integer arithmetic: the decoder
repeats the encoder's steps exactly. Which of these a block method uses is its profile
(PROFILES), so older methods keep their bits as the engine grows.
"""
from __future__ import annotations

import numpy as np

from ...mixing import arithmetic, counters
from ...mixing.hashing import h32
from ...mixing.logistic import STRETCH, apm_init, apm_learn, apm_refine, squash
from ...native import kernel
from .. import network
from ..mixer import NetTables
from . import bitmap, contexts, exe, match, records, runs
from .contexts import CONTEXTS

HASHED = CONTEXTS + contexts.EXTRA + contexts.EXTRA2  # the contexts of contexts.py
MOST_CONTEXTS = HASHED + contexts.TEXT + exe.CONTEXTS + 1 + runs.INDIRECT  # and the text contexts (P_TEXT), the match's
# expected byte (P_MATCH_CTX), the runs' bytes as contexts (P_RUNS 2)
INPUTS = MOST_CONTEXTS + 3 + records.GUESSES + 4 + 1 + runs.RUNS  # the contexts, the match, the network, a
# bias, the record guesses, the 1-bit image model's two (four in method 10), the long match, the runs
# A block method is a profile of this engine: the hashed contexts it uses (method 5's 19; with
# contexts.compute_extra's 27; with compute_extra2's 31), the mixer's learning rate, whether it
# adds the weight sets chosen by the orders seen and by the column and the fourth and fifth APMs,
# whether it has the record guesses (records.guess, with the strict record periods) and the 1-bit
# image model (bitmap.py), the log2 of the most lines its table may have, the cells' count limits
# (orders 0-2, the rest), and when a surprising bit cuts a cell's count (counters.adapt_surprised:
# below P_SURPRISE/4096, to at most P_KEEP; 0: never). Method 9 adds: the weights' starting value
# (2^16 >> P_INIT_SHIFT: 1/16 of an input each, for its 46 inputs), a faster step for weight vectors
# that have learnt little (P_FRESH: see Tables.fresh_rate), the match's expected byte and length as
# a context (P_MATCH_CTX), a second match model that starts on P_LONG_MATCH bytes of context, the
# first P_TEXT of contexts.compute_text's contexts, the match's weight set also chosen by whether
# the long match agrees (P_LONG_SET), and lines claimed two-way (P_TWO_WAY: counters.line_of_two).
# Method 10 is method 9 with the 1-bit image model's two more contexts and its own weight set
# (P_BITMAP 2). Method 12 is method 10 with compute_text's two field contexts (P_TEXT 6) and the x86
# model (P_EXE: exe.py's contexts, 0 to the mixer outside the x86 code regions the segment's `x86`
# marks), method 13 method 7 with the x86 model, method 15 method 12 with run predictions (P_RUNS:
# runs.py, paq8's run map; C46: −0.2 % on the development set). Methods 6 to 12 came from the development set
# (bench/bytes_dev.py, models/EXPERIMENTS.md C13-C22, C27-C36, C41), all 8 files: method 5 1.0951
# bpb, 6 1.0649, 7 0.9813, 8 0.9793, 9 0.9616, 10 0.9523, 12 0.9448 (in blocks as level 9 writes
# them: xz.bin's code through the branch transform).
P_CONTEXTS, P_MIX_LR, P_ORDER_SET, P_COLUMN_SET, P_MORE_APMS, P_GUESSES, P_LINE_BITS, P_BITMAP, P_COUNT_LIMIT, \
    P_LOW_LIMIT, P_SURPRISE, P_KEEP, P_INIT_SHIFT, P_FRESH, P_MATCH_CTX, P_LONG_MATCH, P_TEXT, P_LONG_SET, P_TWO_WAY, \
    P_EXE, P_RUNS = range(21)
PROFILES = {5: np.array([CONTEXTS, 14, 0, 0, 0, 0, 21, 0, 255, 255, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0], dtype=np.int64),
            6: np.array([CONTEXTS + contexts.EXTRA, 16, 1, 1, 1, 0, 21, 0, 255, 255, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0], dtype=np.int64),
            7: np.array([CONTEXTS + contexts.EXTRA, 14, 1, 1, 1, 1, 21, 1, 60, 255, 2000, 2, 3, 0, 0, 0, 0, 0, 0, 0, 0], dtype=np.int64),
            8: np.array([HASHED, 14, 1, 1, 1, 1, 22, 1, 60, 255, 2000, 2, 3, 0, 0, 0, 0, 0, 0, 0, 0], dtype=np.int64),
            9: np.array([HASHED, 10, 1, 1, 1, 1, 23, 1, 90, 255, 1600, 2, 4, 16, 1, 12, 4, 1, 1, 0, 0], dtype=np.int64),
            10: np.array([HASHED, 10, 1, 1, 1, 1, 23, 2, 90, 255, 1600, 2, 4, 16, 1, 12, 4, 1, 1, 0, 0], dtype=np.int64),
            12: np.array([HASHED, 10, 1, 1, 1, 1, 23, 2, 90, 255, 1600, 2, 4, 16, 1, 12, 6, 1, 1, 1, 0], dtype=np.int64),
            13: np.array([CONTEXTS + contexts.EXTRA, 14, 1, 1, 1, 1, 21, 1, 60, 255, 2000, 2, 3, 0, 0, 0, 0, 0, 0, 1, 0], dtype=np.int64),
            15: np.array([HASHED, 10, 1, 1, 1, 1, 23, 2, 90, 255, 1600, 2, 4, 16, 1, 12, 6, 1, 1, 1, 2], dtype=np.int64)}
# the weight sets, each chosen by: the partial byte; the match (its length, expected bit, bit
# position); the last byte; the byte one record back (else the byte before the last); the last
# two bytes and the partial byte, hashed; (method 6 on) how many of orders 1-6 have seen this
# bit's context, with the bit position; the column in the record (else in the line of text), and
# in method 10 a bitmap's small pixel context (its second 512 rows). The match's set has room for
# twice its 272 rows: method 9's long match (P_LONG_SET)
WEIGHT_SETS = (256, 544, 256, 256, 2048, 64, 1024)
ORDER_SET, COLUMN_SET = 5, 6
SET_BASE = np.concatenate([[0], np.cumsum(WEIGHT_SETS)]).astype(np.int64)
MIX_SHIFT = 16
FRESH_USES = 1 << 16  # updates counted per weight vector (P_FRESH: the addition is 0 long before)
PIXEL_LIMIT = 255  # the count limit of the 1-bit image model's cells
APM_RATE = 7
COST = -np.log2(np.maximum(np.arange(4096), 1) / 4096.0)  # bits of a 12-bit probability's outcome
CHUNK = 1 << 16        # bytes the encoder codes per call (its buffer's bound; the decoder's calls
WORST_BYTES_PER_BYTE = 13  # are arithmetic.decode_bands'); 8 bits of at most 12 bits each, rounded up


class Tables:
    """Everything one segment of n bytes learns and tracks, sized to n."""

    def __init__(self, n: int, net: NetTables, method: int, x86: np.ndarray | None = None) -> None:
        """x86: 1 for each byte of the segment in x86 code (arzip/bytes/branch.py's regions), the
        bytes the x86 model (P_EXE) keys its contexts for; else (None) none is."""
        self.profile = PROFILES[method]
        bits = min(int(self.profile[P_LINE_BITS]), max(12, (max(n, 1) * 6).bit_length()))  # 2^21 lines: 128 MiB, 2^23: 512
        self.slots, self.bits = counters.line_table(16 << bits), np.int64(bits)
        self.match_table, match_bits, self.match_confidence, self.match_state = match.fresh(n)
        self.match_bits = np.int64(match_bits)
        table, long_bits, confidence, state = match.fresh(n if self.profile[P_LONG_MATCH] else 1)  # P_LONG_MATCH
        self.long_match = (table, np.int64(long_bits), confidence, state)
        # int32: weights stay within +-2^24 (the kernel clips them), so their products vectorise
        self.weights = np.full((int(SET_BASE[-1]), INPUTS), (1 << MIX_SHIFT) >> self.profile[P_INIT_SHIFT], dtype=np.int32)
        self.weights[:, self.profile[P_CONTEXTS] + self.profile[P_TEXT] + exe.CONTEXTS * self.profile[P_EXE] + self.profile[P_MATCH_CTX]
                     + runs.INDIRECT * (self.profile[P_RUNS] > 1) + 2] = 0  # the bias
        self.uses = np.zeros(int(SET_BASE[-1]), dtype=np.int32)  # each weight vector's updates (P_FRESH)
        # a fresh weight vector learns faster: the rate's addition after u updates, fresh * 1024 / (1024 + u)
        self.fresh_rate = (self.profile[P_FRESH] * 1024) // (1024 + np.arange(FRESH_USES + 1, dtype=np.int64))
        self.apms = (apm_init(256), apm_init(65536), apm_init(65536), apm_init(1024), apm_init(65536))
        self.exe_state = exe.fresh()
        self.x86 = np.zeros(n if self.profile[P_EXE] else 0, dtype=np.uint8) if x86 is None else x86
        self.registers, self.follow = contexts.fresh()
        self.last_seen, self.record = records.fresh()
        self.guess_confidence, self.guess_outcomes = records.fresh_guesses()
        self.pixels = bitmap.fresh(self.profile[P_BITMAP] > 1)
        self.runs = runs.fresh(self.profile[P_RUNS])
        self.net = (net.first, net.first_bias, net.act_shift, net.out_w, net.out_b, net.out_shift)

    def arguments(self) -> tuple:
        """The kernel's table arguments, in its order."""
        return (self.profile, self.slots, self.bits, self.match_table, self.match_bits, self.match_confidence, self.match_state, *self.long_match,
                self.weights, self.uses, self.fresh_rate, *self.apms, self.registers, self.follow, self.last_seen, self.record,
                self.guess_confidence, self.guess_outcomes, self.pixels, self.exe_state, self.x86, *self.runs, *self.net)


@kernel(inline="always")
def _line_hash(ctx, k, c0):
    """The hash that names context k's line for the nibble whose bits so far are c0 (1 at a byte's
    start, 16..31 for its second nibble): what the kernel claims and prefetches."""
    return h32(ctx[k] + c0 * 0x9E3779B1 + k)


@kernel()
def code(data, i0, i1, decoding, profile, slots, bits, mtab, mbits, msm, mstate, mtab2, mbits2, msm2, mstate2, weights, uses, fresh_rate, apm1, apm2, apm3, apm4, apm5,
         regs, follow, last_seen, record, gconf, goutcomes, pixels, xstate, x86, run_table, run_conf, run_state, first, first_bias, act_shift,
         out_w, out_b, out_shift, buf, at, coder, costs):
    """Code bytes i0..i1-1 of data (decoding: decode them into data) on the segment's tables;
    returns the new end of buf (the encoder's output, the decoder's input). The encoder adds
    each byte's cost in bits to costs[i], or to costs[0] where costs has one element."""
    last_cost = costs.shape[0] - 1
    n_hashed = profile[P_CONTEXTS]
    n_text = profile[P_TEXT]
    n_exe = exe.CONTEXTS * profile[P_EXE]
    n_run_ctx = runs.INDIRECT if profile[P_RUNS] > 1 else 0
    n_ctx = n_hashed + n_text + n_exe + profile[P_MATCH_CTX] + n_run_ctx  # the contexts with cells
    in_match, in_net, in_bias = n_ctx, n_ctx + 1, n_ctx + 2
    n_guesses = records.GUESSES if profile[P_GUESSES] else 0
    in_guess = n_ctx + 3
    n_pixels = 2 * profile[P_BITMAP]
    in_pixels = in_guess + n_guesses
    long_min = profile[P_LONG_MATCH]
    long_set = profile[P_LONG_SET]  # the match's weight set also by whether the long match agrees
    in_match2 = in_pixels + n_pixels
    in_runs = in_match2 + (1 if long_min else 0)
    n_runs = runs.RUNS if profile[P_RUNS] else 0
    n_in = in_runs + n_runs
    run_slots = np.zeros(runs.RUNS, dtype=np.int64)
    want2 = np.int64(-1)
    strength2 = mctx2 = 0
    pixel_cells = np.zeros(4, dtype=np.int64)
    row_above = row_above2 = np.int64(-1)  # the 1-bit image model's rows above this byte
    guesses = np.zeros(records.GUESSES, dtype=np.int64)
    guess_slots = np.zeros(records.GUESSES, dtype=np.int64)
    sets = np.arange(len(WEIGHT_SETS))  # the weight sets in use, in the order their products add up
    n_sets = 5
    if profile[P_ORDER_SET]:
        sets[n_sets] = ORDER_SET
        n_sets += 1
    if profile[P_COLUMN_SET]:
        sets[n_sets] = COLUMN_SET
        n_sets += 1
    more_apms = profile[P_MORE_APMS]
    mix_lr = profile[P_MIX_LR]
    fresh = profile[P_FRESH]
    two_way = profile[P_TWO_WAY]
    count_limit = profile[P_COUNT_LIMIT]
    low_limit = profile[P_LOW_LIMIT]
    surprise, keep = profile[P_SURPRISE], profile[P_KEEP]
    ctx = np.zeros(MOST_CONTEXTS, dtype=np.int64)
    line = np.zeros(MOST_CONTEXTS, dtype=np.int64)
    inputs = np.zeros(INPUTS, dtype=np.int32)  # stretched probabilities, within +-2047
    rows = np.zeros(len(WEIGHT_SETS), dtype=np.int64)
    hidden = np.zeros(first_bias.shape[0], dtype=np.int32)
    sums = np.zeros(first_bias.shape[0], dtype=np.int64)
    for i in range(i0, i1):
        c4 = regs[contexts.C4]
        c1 = c4 & 0xFF
        rl = record[records.LENGTH]
        col = i % rl if rl > 0 else -1  # the column in the record
        above = contexts.compute(ctx, data, i, regs, rl, follow)
        if n_hashed > CONTEXTS:
            contexts.compute_extra(ctx, data, i, regs)
        if n_hashed > CONTEXTS + contexts.EXTRA:
            contexts.compute_extra2(ctx, data, i, regs)
        want = match.expected(data, i, mstate)
        length = mstate[match.LENGTH]
        if long_min:
            want2 = match.expected(data, i, mstate2)
        if n_text:
            contexts.compute_text(ctx, n_hashed, n_text, data, i, regs, follow)
        in_code = n_exe and x86[i]
        if n_exe:
            exe.compute(ctx, n_hashed + n_text, xstate, c1, in_code)
        if n_runs:
            runs.look_up(ctx, run_table, run_state)
        if profile[P_MATCH_CTX]:
            ctx[n_hashed + n_text + n_exe] = h32(((want + 1) << 4) + min(length, 15) + (11 << 40)) if want >= 0 else h32(12 << 40)
        if n_run_ctx:
            runs.indirect(ctx, n_ctx - n_run_ctx, run_state, c4)
        for k in range(n_ctx):  # the first nibble's lines come in while the network works
            if two_way:
                counters.prefetch_two(slots, 0, bits, _line_hash(ctx, k, 1))
            else:
                counters.prefetch_line(slots, 0, bits, _line_hash(ctx, k, 1))
        network.hidden_layer(i, data, first, first_bias, act_shift, sums, hidden)
        for g in range(n_guesses):
            guesses[g] = records.guess(data, i, rl, g)
        if n_pixels:
            row_above, row_above2 = bitmap.rows_above(data, i, record[records.LONG + records.LENGTH])
        c0 = 1
        for j in range(8):
            if j == 3:  # both candidates for the second nibble's lines, a bit ahead
                for k in range(n_ctx):
                    if two_way:
                        counters.prefetch_two(slots, 0, bits, _line_hash(ctx, k, 2 * c0))
                        counters.prefetch_two(slots, 0, bits, _line_hash(ctx, k, 2 * c0 + 1))
                    else:
                        counters.prefetch_line(slots, 0, bits, _line_hash(ctx, k, 2 * c0))
                        counters.prefetch_line(slots, 0, bits, _line_hash(ctx, k, 2 * c0 + 1))
            if j == 0 or j == 4:
                for k in range(n_ctx):
                    if two_way:
                        line[k] = counters.line_of_two(slots, 0, bits, _line_hash(ctx, k, c0))
                    else:
                        line[k] = counters.line(slots, 0, bits, _line_hash(ctx, k, c0))
            node = c0 if j < 4 else ((1 << (j - 4)) | (c0 & ((1 << (j - 4)) - 1)))  # 1..15 in the nibble's line
            for k in range(n_ctx):
                inputs[k] = STRETCH[counters.p12(slots, line[k] + node)]
            if n_exe and not in_code:  # outside x86 code the x86 model says nothing
                for k in range(n_hashed + n_text, n_hashed + n_text + n_exe):
                    inputs[k] = 0
            seen = 0  # of orders 1-6, how many have seen this bit's context
            if profile[P_ORDER_SET]:
                for k in range(1, 7):
                    seen += (np.int64(slots[line[k] + node]) & 1023) > 0
            mctx = 0
            expected_bit = 0
            strength = 0
            if want >= 0 and ((want | 256) >> (8 - j)) == c0:
                expected_bit = (want >> (7 - j)) & 1
                mctx = min(length, 31) * 2 + expected_bit
                inputs[in_match] = STRETCH[msm[mctx] >> 4]
                strength = 1 + min(15, length)
            else:
                inputs[in_match] = 0
            if long_min:
                strength2 = 0
                inputs[in_match2] = 0
                if want2 >= 0 and ((want2 | 256) >> (8 - j)) == c0:
                    mctx2 = min(mstate2[match.LENGTH] >> 2, 31) * 2 + ((want2 >> (7 - j)) & 1)
                    inputs[in_match2] = STRETCH[msm2[mctx2] >> 4]
                    strength2 = 1
            for r in range(n_runs):
                run_slots[r] = runs.slot(run_state, r, j, c0)
                inputs[in_runs + r] = STRETCH[run_conf[run_slots[r]] >> 4] if run_slots[r] >= 0 else 0
            inputs[in_net] = network.logit(c0, out_w, out_b, out_shift, hidden)
            inputs[in_bias] = 256
            for m in range(n_pixels):
                pixel_cells[m] = bitmap.cell(row_above, row_above2, j, c0, c1, m)
                inputs[in_pixels + m] = STRETCH[counters.p12(pixels, pixel_cells[m])] if pixel_cells[m] >= 0 else 0
            for g in range(n_guesses):
                guess_slots[g] = -1
                inputs[in_guess + g] = 0
                if guesses[g] >= 0 and ((guesses[g] | 256) >> (8 - j)) == c0:
                    guess_slots[g] = records.guess_slot(col, goutcomes, g, j, (guesses[g] >> (7 - j)) & 1)
                    inputs[in_guess + g] = STRETCH[gconf[g, guess_slots[g]] >> 4]
            rows[0] = c0
            rows[1] = SET_BASE[1] + (strength * 2 + expected_bit) * 8 + j + 272 * strength2 * long_set
            rows[2] = SET_BASE[2] + c1
            rows[3] = SET_BASE[3] + (above if rl > 0 else (c4 >> 8) & 0xFF)
            rows[4] = SET_BASE[4] + (h32((c4 & 0xFFFF) * 256 + c0) >> 21)
            rows[5] = SET_BASE[5] + seen * 8 + j
            if n_pixels > 2 and row_above >= 0:  # a bitmap's pixels: the set by the small pixel context
                rows[6] = SET_BASE[6] + 512 + pixel_cells[1] - bitmap.SMALL
            else:
                rows[6] = SET_BASE[6] + (min(col, 255) if rl > 0 else 256 + min(i - regs[contexts.LINE_START], 255))
            dot = 0
            for t in range(n_sets):
                row = weights[rows[sets[t]]]
                for k in range(n_in):
                    dot += np.int64(row[k]) * np.int64(inputs[k])
            pm = max(1, min(4095, squash(max(-2047, min(2047, (dot // n_sets) >> MIX_SHIFT)))))
            a1, k1 = apm_refine(apm1, c0, pm)
            a2, k2 = apm_refine(apm2, c0 | (c1 << 8), pm)
            a3, k3 = apm_refine(apm3, h32((c4 & 0xFFFF) * 256 + c0 + 0x1234) >> 16, pm)
            if more_apms:
                a4, k4 = apm_refine(apm4, (min(length, 15) * 2 + expected_bit) * 32 + 16 + j if strength > 0 else j, pm)
                a5, k5 = apm_refine(apm5, h32((c4 & 0xFFFFFF) * 256 + c0 + 0x5678) >> 16, pm)
                p = max(1, min(4095, (3 * pm + a1 + 3 * a2 + 3 * a3 + 3 * a4 + 3 * a5 + 8) >> 4))
            else:
                p = max(1, min(4095, (2 * pm + a1 + 2 * a2 + 3 * a3 + 4) >> 3))
            if decoding:
                bit = arithmetic.decode_bit(coder, buf, p)
            else:
                bit = (np.int64(data[i]) >> (7 - j)) & 1
                at = arithmetic.encode_bit(coder, bit, p, buf, at)
                costs[min(i, last_cost)] += COST[p] if bit else COST[4096 - p]
            if surprise:
                for k in range(n_ctx):
                    counters.adapt_surprised(slots, line[k] + node, bit, low_limit if k < 3 else count_limit, surprise, keep)
            else:
                for k in range(n_ctx):
                    counters.adapt(slots, line[k] + node, bit, low_limit if k < 3 else count_limit)
            if strength > 0:
                msm[mctx] += (65535 * bit - msm[mctx]) >> 6
            if strength2 > 0:
                msm2[mctx2] += (65535 * bit - msm2[mctx2]) >> 6
            for r in range(n_runs):
                if run_slots[r] >= 0:
                    run_conf[run_slots[r]] += (65535 * bit - run_conf[run_slots[r]]) >> 6
            for m in range(n_pixels):
                if pixel_cells[m] >= 0:
                    counters.adapt(pixels, pixel_cells[m], bit, PIXEL_LIMIT)
            for g in range(n_guesses):
                if guess_slots[g] >= 0:
                    gconf[g, guess_slots[g]] += (65535 * bit - gconf[g, guess_slots[g]]) >> 6
            for t in range(n_sets):
                r = rows[sets[t]]
                rate = mix_lr
                if fresh:
                    rate += fresh_rate[uses[r]]
                    uses[r] = min(uses[r] + 1, FRESH_USES)
                err = ((bit << 12) - pm) * rate
                row = weights[r]
                for k in range(n_in):
                    row[k] = max(-(1 << 24), min(1 << 24, np.int64(row[k]) + ((np.int64(inputs[k]) * err + 0x8000) >> 16)))
            apm_learn(apm1, k1, bit, APM_RATE)
            apm_learn(apm2, k2, bit, APM_RATE)
            apm_learn(apm3, k3, bit, APM_RATE)
            if more_apms:
                apm_learn(apm4, k4, bit, APM_RATE)
                apm_learn(apm5, k5, bit, APM_RATE)
            c0 = 2 * c0 + bit
        c = c0 & 0xFF
        if decoding:
            data[i] = c
        for g in range(n_guesses):
            if guesses[g] >= 0:
                records.guessed(col, goutcomes, g, 1 if guesses[g] == c else 0)
        contexts.after(c, i, regs, follow)
        if n_exe:
            exe.after(c, xstate)
        if n_runs:
            runs.after(c, run_table, run_state)
        records.observe(i, c, last_seen, record, data, profile[P_GUESSES])
        match.after(c, want, i, data, regs[contexts.C4], regs[contexts.C8], mtab, mbits, mstate)
        if long_min:
            match.after_hashed(c, want2, i, data, match.long_hash(data, i, long_min, mbits2), long_min, mtab2, mstate2)
    return at
