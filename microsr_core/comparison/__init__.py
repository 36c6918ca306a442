"""Comparing methods on images: reference matching and measures, the quality benchmark
(``evaluate``), the Benchmarks leaderboard, display helpers, shareable view links, the
comparison's downloads and the one-file HTML report.

Nothing here imports the training wing (nor does training import this one).
"""
