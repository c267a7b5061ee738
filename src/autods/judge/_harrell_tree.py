"""Harrell's C for many bootstrap resamples at once in O(n log n) each, for large cohorts.

:class:`autods.judge._vectorized.HarrellKernel` keeps dense n x n pair matrices, which is
exact and fast up to a few thousand units but needs gigabytes beyond (sksurv's flchain,
7,874 people, spent minutes per experiment in the generic loop instead). Here each resample
is a weight per row (the multiplicity of its unit), and the weighted pair sums are built
with a Fenwick tree over risk ranks while sweeping rows from the latest time to the
earliest, all resamples of a chunk side by side.

Pairs are those of scikit-survival's ``concordance_index_censored``: i had the event and j's
time is later, or equal with j censored; a risk tie within ``tol`` counts one half.
"""

from __future__ import annotations

import numpy as np

#: delete-a-block jackknife blocks for the BCa acceleration (leave-one-out would be n sweeps)
JACKKNIFE_BLOCKS = 200


class TreeHarrellKernel:
    """Harrell's C under unit multiplicities, for any number of units (see module docstring)."""

    def __init__(self, y: np.ndarray, risk: np.ndarray, units: np.ndarray, n_units: int, tol: float = 1e-8,
                 seed: int = 0) -> None:
        event = np.asarray(y["event"], dtype=bool)
        time = np.asarray(y["time"], dtype=float)
        risk = np.asarray(risk, dtype=float)
        order = np.argsort(risk, kind="stable")
        new_rank = np.concatenate([[True], np.diff(risk[order]) > tol])  # ties within tol share a rank
        rank = np.empty(risk.size, dtype=np.int64)
        rank[order] = np.cumsum(new_rank)  # 1-based
        self.m = int(rank.max()) if rank.size else 0
        sweep = np.argsort(-time, kind="stable")  # latest first
        groups: list[tuple[np.ndarray, np.ndarray]] = []
        t_sorted = time[sweep]
        starts = np.flatnonzero(np.concatenate([[True], np.diff(t_sorted) != 0]))
        for a, b in zip(starts, np.append(starts[1:], sweep.size)):
            rows = sweep[a:b]
            groups.append((rows[~event[rows]], rows[event[rows]]))
        self.groups, self.rank, self.units, self.n_units = groups, rank, units, n_units
        self.seed = seed

    def _sweep(self, w: np.ndarray) -> np.ndarray:
        """C for each row of row weights ``w`` (chunk x rows)."""
        chunk = w.shape[0]
        tree = np.zeros((self.m + 1, chunk))
        total = np.zeros(chunk)
        num = np.zeros(chunk)
        den = np.zeros(chunk)
        wt = np.ascontiguousarray(w.T)  # rows x chunk: one contiguous vector per row

        def add(rows: np.ndarray) -> None:
            nonlocal total
            for r in rows:
                pos, v = int(self.rank[r]), wt[r]
                total = total + v
                while pos <= self.m:
                    tree[pos] += v
                    pos += pos & -pos

        def below(pos: int) -> np.ndarray:
            s = np.zeros(chunk)
            while pos > 0:
                s += tree[pos]
                pos -= pos & -pos
            return s

        for censored, events in self.groups:
            add(censored)  # an event is comparable with a censored row at its own time
            for r in events:
                k = int(self.rank[r])
                less, upto = below(k - 1), below(k)
                num += wt[r] * (less + 0.5 * (upto - less))
                den += wt[r] * total
            add(events)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(den > 0, num / den, np.nan)

    def replicates(self, counts: np.ndarray) -> np.ndarray:
        return self._sweep(np.asarray(counts, dtype=float)[:, self.units])

    def jackknife(self) -> np.ndarray:
        """Delete-a-block values over :data:`JACKKNIFE_BLOCKS` random blocks of units."""
        blocks = np.random.default_rng(self.seed).permutation(self.n_units) % min(JACKKNIFE_BLOCKS, self.n_units)
        keep = (blocks[None, :] != np.arange(int(blocks.max()) + 1)[:, None]).astype(float)
        return self.replicates(keep)
