"""Where the cohorts come from: files and loaders of installed packages, read offline.

A file a package ships as CSV is copied byte for byte (R's row-name column, ``NA`` strings
and all), because that is the file a new user would hand to ``autods run``.
"""

from __future__ import annotations

import importlib.resources
import shutil
import warnings
from functools import lru_cache
from pathlib import Path

import pandas as pd

__all__ = ["copy_package_file", "package_file", "sksurv_frame", "survset"]


def package_file(package: str, *parts: str) -> Path:
    path = Path(str(importlib.resources.files(package).joinpath(*parts)))
    if not path.is_file():
        raise FileNotFoundError(path)
    return path


def copy_package_file(dest: Path, package: str, *parts: str) -> str:
    """Copy a data file shipped by ``package`` into ``dest``; returns its file name."""
    src = package_file(package, *parts)
    shutil.copyfile(src, dest / src.name)
    return src.name


@lru_cache(maxsize=8)
def _survset(name: str) -> pd.DataFrame:
    from SurvSet.data import SurvLoader

    with warnings.catch_warnings():
        # SurvSet's pickles were written by numpy 1.x and unpickle through numpy.core (deprecated alias)
        warnings.filterwarnings("ignore", "numpy.core", DeprecationWarning)
        return SurvLoader().load_dataset(name)["df"]


def survset(name: str) -> pd.DataFrame:
    """A SurvSet dataset as the package returns it: ``pid``, ``event``, ``time``, ``num_*``, ``fac_*``."""
    return _survset(name).copy()


def sksurv_frame(loader: str) -> pd.DataFrame:
    """A scikit-survival dataset as one table: the covariates and the (event, time) columns."""
    import sksurv.datasets as ds

    X, y = getattr(ds, loader)()
    frame = X.copy()
    event, time = y.dtype.names
    frame[event] = y[event].astype(int)
    frame[time] = y[time]
    return frame
