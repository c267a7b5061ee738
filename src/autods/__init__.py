"""AutoDataScientists: agents that run end-to-end clinical and biomedical data science.

Research use only; not a medical device.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__", "evaluate", "load_model", "load_task"]


def __getattr__(name: str):  # lazy: importing autods must stay cheap and side-effect free
    if name == "evaluate":
        from autods.runners.evaluate import evaluate

        return evaluate
    if name == "load_task":
        from autods.tasks.load import load_task

        return load_task
    if name == "load_model":
        from autods.reports.model_io import load_model

        return load_model
    raise AttributeError(f"module 'autods' has no attribute {name!r}")
