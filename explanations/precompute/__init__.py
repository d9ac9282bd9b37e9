"""Precomputing at scale on Ray: separations, rankings and explanations written into the caches the
command line and the page read (``lemons precompute``; :mod:`explanations.precompute.jobs`).

Ray is an optional dependency (``pip install .[scale]``), imported only when a job runs.
"""

from explanations.precompute.cluster import ClusterOptions
from explanations.precompute.jobs import Report, precompute_explain, precompute_rank, precompute_separate

__all__ = ["ClusterOptions", "Report", "precompute_explain", "precompute_rank", "precompute_separate"]
