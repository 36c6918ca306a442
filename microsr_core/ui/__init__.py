"""The app's Streamlit layer: the only Streamlit code outside ``pages/``.

- :mod:`.state`: session-state keys and the per-user result cache;
- :mod:`.loaders`: things loaded once per process and shared by every user (models, sample);
- :mod:`.inputs`: the image, teaching mode and HR reference widgets;
- :mod:`.running`: the controls and running the methods with progress;
- :mod:`.views`: the overview with the region of interest, zoom grid, before/after view,
  metrics, maps, LR-consistency check and downloads;
- :mod:`.train_widgets`: the Train page: launch form, job list, live curves, log tail,
  cancel / resume / promote (the jobs themselves run in :mod:`microsr_core.jobs`).

The numerics behind them are pure functions in :mod:`microsr_core.compare`. Nothing in
``microsr_core`` outside this package imports Streamlit.
"""
