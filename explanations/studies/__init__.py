"""Studies of the explanations (stability, faithfulness, veracity, separation quality), each writing
a CSV, figures and a summary through :mod:`explanations.studies.report`."""
