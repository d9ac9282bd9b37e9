"""The question an explanation answers: which of LIME's two classes ``[1 − p, p]`` it explains.

An explanation of a recommendation explains the relevance ``p`` itself (``relevant``, the default):
its positive weights are the components that raise the relevance. ``not-relevant`` asks "why not?":
its positive weights are the components that lower the relevance. ``top`` is LIME's and the original
LEMONS' rule (``top_labels=1``): the class the recommender picks for the whole track, so ``relevant``
from p = 0.5 up and ``not-relevant`` below. The two classes' fits are mirror images (the same
weights with opposite signs), so the questions differ in which components come first, not in what
the surrogate learnt.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from lemons.registry import Registry

RELEVANT, NOT_RELEVANT = 1, 0  # LIME's class indices of [1 − p, p]
DEFAULT_QUESTION = "relevant"


@dataclass(frozen=True)
class Question:
    """A question an explanation can answer; ``label`` picks LIME's class for the instance's relevance."""

    name: str
    title: str  # the page's short name for it
    description: str  # for help texts and the page
    choose: Callable[[float], int]

    def label(self, relevance: float) -> int:
        """LIME's class explained for an instance of relevance ``relevance``: 1 relevant, 0 not relevant."""
        return int(self.choose(relevance))


#: The questions, the default first.
QUESTIONS: Registry[Question] = Registry("question (--label)")
QUESTIONS.register(
    Question(
        "relevant",
        "Why is it recommended?",
        "why is it recommended? the components ranked by how much they raise the relevance",
        lambda relevance: RELEVANT,
    )
)
QUESTIONS.register(
    Question(
        "not-relevant",
        "Why not?",
        "why not? the components ranked by how much they lower the relevance",
        lambda relevance: NOT_RELEVANT,
    )
)
QUESTIONS.register(
    Question(
        "top",
        "LIME's top label (the original LEMONS)",
        "LIME's top label, as in the original LEMONS: why relevant from a relevance of 0.5 up, why not "
        "relevant below",
        lambda relevance: RELEVANT if relevance >= 0.5 else NOT_RELEVANT,
    )
)


def raises(label: int) -> str:
    """What a positive weight does to the relevance when ``label`` is explained: ``raise`` or ``lower``."""
    return "raise" if label == RELEVANT else "lower"


def lowers(label: int) -> str:
    """What a negative weight does to the relevance when ``label`` is explained."""
    return raises(NOT_RELEVANT if label == RELEVANT else RELEVANT)


def answered(question: str, label: int, relevance: float) -> str:
    """The question an explanation answered, in words (what the outputs say)."""
    decision = "relevant" if label == RELEVANT else "not relevant"
    text = f"why is the track {decision}? (--label {question}: components that {raises(label)} the relevance)"
    if question == "top":
        side = "≥" if relevance >= 0.5 else "<"
        text += f"; LIME's top label, as the relevance {relevance:.3f} is {side} 0.5"
    return text
