"""The integer context-mixing engine's shared parts: the logistic domain (12-bit
probabilities, stretch and squash in integers) and the hashes that key context slots. The byte
mixer (arzip/bytes/mixer.py) is built on them; the adaptive image model goes here too, so both
paths mix with the same exact arithmetic (docs/ARCHITECTURE.md)."""
