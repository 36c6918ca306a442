"""Built-in SR methods. Importing this package registers them (one import line per method)."""

from . import bicubic, vdsr  # noqa: F401
