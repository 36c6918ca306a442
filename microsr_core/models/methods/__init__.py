"""Built-in SR methods. Importing this package registers them (one import line per method)."""

from . import bicubic, vdsr, prior, microgan, imported  # noqa: F401  (import order = display order)
