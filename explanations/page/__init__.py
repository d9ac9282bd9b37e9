"""The demo page's helpers: figures, pictures, the waveform player and the explanation's files.

Streamlit-free: ``explanations/lemons.py`` is the only module that imports Streamlit.
"""
