"""Many images and whole slides on Dask: batches of fields and larger-than-memory images.

- :mod:`.cluster`: the Dask client: an in-process ``LocalCluster`` of worker processes by
  default, or an existing scheduler; each worker sets its torch threads once and keeps one
  model per weights sha256.
- :mod:`.slurm`: ``--slurm``, the workers as SLURM jobs of a dask-jobqueue ``SLURMCluster`` (the
  optional extra ``slurm``).
- :mod:`.batch`: every image of a folder or ZIP × every method, one task per output file.
- :mod:`.sources`: reading windows of large images (OME-Zarr, OME-TIFF/SVS pyramid levels, plain
  TIFF/PNG) without loading them whole.
- :mod:`.slides`: whole slides in the app: the slides a user may open, an overview, a region read
  as an ordinary image.
- :mod:`.large`: one image block by block with a halo, each task writing its own OME-Zarr chunk.

Rule (``tests/test_import_graph.py``): imports imaging, models and comparison; never ui, jobs or train.
"""
