"""Errors arzip reports to users as one line (the CLI prints them as `arzip: error: ...`)."""


class ArzipError(Exception):
    """Base class: anything wrong with the user's input, archive, model or output."""


class FormatError(ArzipError):
    """The bytes are not a valid arz archive, or not one this version can read."""


class ModelError(ArzipError):
    """A model is missing, unknown or damaged."""


class UnsupportedInput(ArzipError):
    """An input arzip cannot (yet) compress without altering it."""
