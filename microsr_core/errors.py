"""Exception types raised at MicroSR's boundaries.

Every problem a user can cause (a bad file, a bad parameter, missing weights) raises a
subclass of :class:`MicroSRError` whose message names the offending value or file, so the CLI
and the app can show it as-is instead of a traceback.
"""


class MicroSRError(Exception):
    """Base class of every error MicroSR reports to a user."""


class ImageError(MicroSRError):
    """An input file is not a readable image, is truncated, or is too large."""


class ImageTooLarge(ImageError):
    """An image has more pixels than the reader was allowed to decode."""


class WeightsError(MicroSRError):
    """A weights file is missing, has the wrong checksum, or does not fit its architecture."""


class AlignmentError(MicroSRError):
    """An HR reference cannot be aligned with an LR image (wrong sizes or scale)."""


class ParameterError(MicroSRError):
    """A parameter (method name, scale, device, tile size, path) is not valid."""


class ExportError(MicroSRError):
    """A model package cannot be made, or the one made fails its validation."""


class StorageError(MicroSRError):
    """An output cannot be written (the disk is full, or the folder is not writable); what was
    written before stays and a resumed run continues from it."""
