"""The byte path: any file in blocks (archive.py), each coded bit by bit (codec.py) by online
context mixing (mixer.py) around the pretrained network (exact.py), into the streamed
container (container.py). model.py, corpus.py, train.py and export.py make the model file."""
