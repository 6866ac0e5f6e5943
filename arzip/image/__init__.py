"""The image path: a Picture's planes (planes.py) through the learned image model (exact.py,
tables.py, wave by wave in codec.py over neighbourhood.py and waves.py) or the byte path, into
the image container (container.py). model.py, train.py and export.py make the model files."""
