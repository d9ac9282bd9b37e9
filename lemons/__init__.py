"""LEMONS: listenable explanations for music recommender systems.

The library behind the recommender (``recsys``) and the explanations (``explanations``):
settings, audio I/O, catalogues (built-in, MSD + Taste Profile, musdb18, audio folders), personas.
"""

__version__ = "0.1.0"
