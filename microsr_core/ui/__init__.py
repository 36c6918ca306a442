"""The app's Streamlit layer: the only Streamlit code outside ``pages/``.

- :mod:`.state`: session-state keys and the per-user result cache;
- :mod:`.loaders`: things loaded once per process and shared by every user (models, samples);
- :mod:`.inputs`: the image, teaching mode and HR reference widgets;
- :mod:`.slides`: a whole slide as the image: choose or upload one, its overview, a region of it;
- :mod:`.overview`: the overview figure with a region on it, and the box a user drags on it;
- :mod:`.links`: the view in the URL's query string (shareable links);
- :mod:`.running`: the controls and running the methods with progress;
- :mod:`.views`: the overview with the region of interest and pixel size, zoom grid with
  scale bars, before/after view, metrics and gain charts, maps, LR-consistency check, downloads
  and the HTML report, drawn from an :class:`~microsr_core.comparison.outcome.Outcome`;
- :mod:`.verdicts`: under every result panel, the verdict without an HR reference, the uncertainty and
  disagreement maps; the ×8 self-ensemble mean;
- :mod:`.train_widgets`: the Train page: launch form, job list, live curves, log tail,
  cancel / resume / promote (the jobs themselves run in :mod:`microsr_core.jobs`).

The numerics behind them are pure functions in :mod:`microsr_core.comparison.compare` and
:mod:`~microsr_core.comparison.outcome` (and :mod:`~microsr_core.comparison.share`, :mod:`~microsr_core.comparison.downloads`, :mod:`~microsr_core.comparison.html_report`, :mod:`~microsr_core.comparison.reports`). Nothing in
``microsr_core`` outside this package imports Streamlit.
"""
