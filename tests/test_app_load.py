"""Five visitors at once (the short version of ``benchmarks/page_load_bench.py``): `streamlit run` over
the tiny catalogue, five headless Chromium sessions walking through persona, catalogue and
explanation at the same time, and a sixth that leaves while its explanation is computed. No visitor
may see an error, two asking for the same explanation compute it once, and the caches hold only
complete entries afterwards."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lemons.cache import files
from tests.browser import CHROMIUM, Plan, served_page, visitors
from tests.test_app import MODELS

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed (make test does)"
    ),
]

#: Two visitors ask for the same explanation; the others for different ones; one leaves early.
PLANS = [
    Plan("nina", explanation="Source", n_samples=64),
    Plan("nina", explanation="Source", n_samples=64),
    Plan("elizabeth", explanation="Time", n_samples=64),
    Plan("johnny", catalogue="your held-out test tracks", explanation="Time + Source", n_samples=32),
    Plan("paige", explanation="Source", n_samples=32),
    Plan("sandra", explanation="Time + Source", n_samples=4096, leave_early=True),
]


def test_five_visitors_at_once(tiny_catalogue_dir: Path, tmp_path: Path) -> None:
    cache_dir = tmp_path / "cache"
    with served_page(tiny_catalogue_dir, MODELS, cache_dir, tmp_path) as url:
        visits = visitors(url, PLANS)
    for visit in visits:
        print(visit.plan.persona, {step: round(s, 1) for step, s in visit.seconds.items()}, visit.caption)
    assert [visit.failures for visit in visits] == [[]] * len(PLANS), (tmp_path / "streamlit.log").read_text()
    stayed = [visit for visit in visits if not visit.plan.leave_early]
    assert all(len(visit.seconds) == 4 for visit in visits)
    assert all("N_s = " in visit.caption for visit in stayed)
    same = [visit.caption for visit in visits[:2]]
    assert sum("computed in" in caption for caption in same) == 1, same  # once, and the other was served it
    assert sum("from the cache" in caption for caption in same) == 1, same
    # every entry is whole: nothing half written, even by the visitor who left
    assert not [entry.path for entry in files(cache_dir) if entry.temporary]
    explanations = list((cache_dir / "explanations").glob("*.json"))
    assert len(explanations) == 4  # those of the visitors who stayed (two asked for the same one)
    for path in explanations:
        assert json.loads(path.read_text())["format"] == "lemons-explanation"
