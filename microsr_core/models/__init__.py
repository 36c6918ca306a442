"""Everything that builds, loads, resolves or runs a network: architectures, methods, weights and
their cards, which weights serve, imported models, inference, precision, CPU runtimes, timings and
the bioimage.io export.

Nothing here imports the comparison, training, jobs or ui wings.
"""
