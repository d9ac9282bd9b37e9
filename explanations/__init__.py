"""audioLIME explanations of recommendations, and the Streamlit demo (``explanations/lemons.py``)."""
