"""Listenable explanations of recommendations, in three layers.

- :mod:`explanations.audiolime`: the method (separation, factorization, scoring, LIME, listening);
- :mod:`explanations.studies`: studies of the method (stability, faithfulness, veracity, separation);
- :mod:`explanations.page`: what the demo page and the command line show (figures, player, files).

``explanations/lemons.py`` is the demo page itself: ``streamlit run explanations/lemons.py``.
"""
