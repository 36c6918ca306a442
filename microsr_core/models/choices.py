"""The settings a user chooses from (precision, device, LR kind ``auto``), without torch: the
command line offers them and a Dask client passes them on without importing torch (only the
processes that run a network need it)."""

PRECISION_CHOICES = ("auto", "fp32", "bf16", "fp16")
DEVICE_CHOICES = ("auto", "cpu", "cuda")
#: The ``--lr-kind`` that lets the image's own facts choose (:func:`~microsr_core.models.catalog.choose_lr_kind`).
AUTO_KIND = "auto"
