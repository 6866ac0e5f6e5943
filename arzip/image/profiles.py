"""Profiles of the adaptive image model (arzip.image.adaptive): which of its inputs a level
mixes and how large its tables are, its trade of speed for size. A profile is part of the
format: the archive names it by its part method (arzip.image.container.MIXING_PROFILES), so a
profile never changes once archives use it; a new trade is a new profile and method.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .predictors import ERR_BUCKETS, N_BASE, N_LMS, N_PRED

CHANNELS = 3
HASHED = (("W, N", 20), ("W, NW", 19), ("N, NE", 19), ("gradient W+N-NW", 18), ("N+NE-NNE", 18),
          ("W+NE-N", 18), ("cross-channel W", 19), ("cross-channel N", 19), ("net mean, confidence", 18),
          ("quantized W, N, NW, NE", 20), ("MED, activity", 18), ("earlier channels", 19),
          ("position, W, N", 19))  # (what the context hashes, log2 of its lines in the full profile)
N_HASHED = len(HASHED)
MED, NET_MEAN, NET_CONTEXT = 6, 2 * N_BASE, 8        # MED; the predictor and the context that read the network
POSITION_CONTEXTS = {12}
CROSS_CONTEXTS = {6, 7, 11}                           # hashed contexts of the pixel's earlier channels
CROSS_PREDICTORS = set(range(N_BASE, 2 * N_BASE))     # inter-channel predictors
SETS = (("channel x bit", CHANNELS * 8), ("channel x bit x best error", CHANNELS * 8 * ERR_BUCKETS),
        ("channel x bit x network confidence", CHANNELS * 8 * 16), ("channel x bit x position", CHANNELS * 8 * 4))
SET_PLAIN, SET_BEST_ERROR, SET_CONFIDENCE, SET_POSITION = range(len(SETS))
TRACKED_ALWAYS = {MED, NET_MEAN}  # hashed contexts read these predictors' errors


@dataclass(frozen=True)
class Profile:
    """Which inputs a level mixes and how large its tables are: its trade of speed for size.
    Work per coded bit grows with the inputs and the weight sets; memory with the lines."""
    network: bool                  # the network's probability of the bit as an input
    predictors: tuple[int, ...]    # indices into the predictor bank (arzip.image.predictors)
    contexts: tuple[int, ...]      # indices into HASHED
    line_bits: tuple[int, ...]     # log2 lines of each context (16 cells per line)
    sets: tuple[int, ...]          # indices into SETS: the first mixer layer's weight sets
    apms: tuple[int, ...]          # which of the two APM stages refine the mix (0, 1)
    window_prior: bool = False     # the network's bit probabilities from its window tables (cheap)
    certain: int = 0               # bits whose network probability (16-bit) is within this of 0 or 1
                                   # are coded with it directly, nothing mixed or learned (0: none)
    compiled_coder: bool = False   # code with arzip.mixing.arithmetic inside the kernels (else constriction)
    mixture_prior: bool = False    # the network's bit probabilities from its mixture itself, its CDF at the
                                   # edges a value's bits visit (arzip.image.tables.mixture_below): no tables

    @property
    def inputs(self) -> int:
        """Mixer inputs: the network (0 when left out), the predictors, the contexts, a bias."""
        return 1 + len(self.predictors) + len(self.contexts) + 1

    def without(self, network: bool = False, predictors: bool = False, contexts: bool = False,
                position: bool = False, apms: bool = False, cross: bool = False) -> "Profile":
        """The profile with input families left out: what the ablations measure (cross: the
        inputs that read the pixel's earlier channels, arzip's colour decorrelation)."""
        def dropped(o: int) -> bool:
            return contexts or (position and o in POSITION_CONTEXTS) or (cross and o in CROSS_CONTEXTS)
        keep = [k for k, o in enumerate(self.contexts) if not dropped(o)]
        sets = tuple(s for s in self.sets if not (position and s == SET_POSITION))
        preds = () if predictors else tuple(k for k in self.predictors if not (cross and k in CROSS_PREDICTORS))
        if network:  # nothing of the network: neither its bits, nor its mean, nor certain bits
            preds = tuple(k for k in preds if k != NET_MEAN)
            keep = [k for k in keep if self.contexts[k] != NET_CONTEXT]
        return Profile(self.network and not network, preds, tuple(self.contexts[k] for k in keep),
                       tuple(self.line_bits[k] for k in keep), sets or (SET_PLAIN,), () if apms else self.apms,
                       self.window_prior, 0 if network else self.certain, self.compiled_coder, self.mixture_prior)

    @property
    def uses_network(self) -> bool:
        """Whether anything reads the network (else the coder need not run it)."""
        return self.network or self.certain > 0 or NET_MEAN in self.predictors or NET_CONTEXT in self.contexts

    def kernel_args(self) -> tuple:
        """The profile as the kernels take it: arrays of int64."""
        a = lambda v: np.array(v, dtype=np.int64)  # noqa: E731
        line_base = np.concatenate([[0], np.cumsum([16 << b for b in self.line_bits])])
        set_base = np.concatenate([[0], np.cumsum([SETS[s][1] for s in self.sets])])
        tracked = sorted(set(self.predictors) | TRACKED_ALWAYS)  # whose errors the model keeps
        lms = int(any(k >= N_PRED - N_LMS for k in tracked))
        return (a(self.predictors), a(self.contexts), a(line_base), a(self.line_bits), a(self.sets), a(set_base),
                a([int(self.network), int(0 in self.apms), int(1 in self.apms), self.certain, lms,
                   int(self.mixture_prior)]), a(tracked))


#: every input, large tables: the strongest levels
FULL = Profile(True, tuple(range(N_PRED)), tuple(range(N_HASHED)), tuple(b for _, b in HASHED),
               tuple(range(len(SETS))), (0, 1))
#: a few inputs, small tables, the network's cheap window tables, certain bits left to the
#: network: about a fifth of FULL's work per subpixel (models/EXPERIMENTS.md A19-A24)
LIGHT = Profile(True, (3, MED, 13, 16, NET_MEAN), (0, 11, 12), (17, 17, 17), (SET_BEST_ERROR,), (0,),
                window_prior=True, certain=64, compiled_coder=True)
#: between the two: the predictor bank without its LMS, every context at 2^18 lines, two weight
#: sets, both APMs, the cheap parts of LIGHT (models/EXPERIMENTS.md A28)
MEDIUM = Profile(True, tuple(range(NET_MEAN + 1)), tuple(range(N_HASHED)), (18,) * N_HASHED,
                 (SET_BEST_ERROR, SET_POSITION), (0, 1), window_prior=True, certain=64, compiled_coder=True)
#: LIGHT's predictors and weight set, its two contexts of the pixel's earlier channels and
#: position, and the mixture prior instead of window tables: smaller than LIGHT (the prior is the
#: network's whole mixture, not a window) and faster (the mixture's CDF at the 8 edges a value's
#: bits visit instead of a table of 32 values around it): models/EXPERIMENTS.md K31
QUICK = Profile(True, (3, MED, 13, 16, NET_MEAN), (11, 12), (17, 17), (SET_BEST_ERROR,), (0,), certain=64,
                compiled_coder=True, mixture_prior=True)
PROFILES = {"full": FULL, "medium": MEDIUM, "light": LIGHT, "quick": QUICK}


