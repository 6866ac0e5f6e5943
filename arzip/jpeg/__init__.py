"""The JPEG path: a Huffman-coded JPEG file taken apart into its quantised DCT coefficients and
everything else (arzip.jpeg.transcode), the coefficients coded by a model of their own, and the
file put back together byte for byte. A file that cannot go this way exactly is refused
(arzip.jpeg.transcode.NotCoefficients) and coded as bytes instead.

The submodules are imported where needed: importing the package loads no kernels.
"""
