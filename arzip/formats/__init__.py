"""Image files in and out: every format arzip takes as pixels comes down to a Picture (samples
at their own depth, colour type, and what it takes to write the file back), and serialise
turns sample arrays into byte streams for the byte path."""
