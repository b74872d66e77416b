"""Non-finite numbers in user data: :func:`nonfinite_rows` finds the rows of a column that
hold NaN or infinities, for error messages that name them.

(Parameters are checked by :mod:`datacentric._validation`, whose ``Interval`` refuses NaN,
booleans and an infinity at an open end, so ``max_drop=inf`` cannot pass every gate.)
"""

from __future__ import annotations

import numpy as np

__all__ = ["nonfinite_rows"]


def nonfinite_rows(values: np.ndarray, *, nan: bool = True) -> np.ndarray:
    """Indices of the rows of ``values`` (1-D, or 2-D by row) holding an infinity — or NaN
    too when ``nan``.

    Examples
    --------
    >>> nonfinite_rows(np.array([1.0, np.inf, np.nan, -np.inf])).tolist()
    [1, 2, 3]
    >>> nonfinite_rows(np.array([1.0, np.inf, np.nan]), nan=False).tolist()
    [1]
    """
    arr = np.asarray(values, dtype=np.float64)
    bad: np.ndarray = np.asarray(~np.isfinite(arr) if nan else np.isinf(arr))
    if bad.ndim > 1:
        bad = np.asarray(bad.reshape(bad.shape[0], -1).any(axis=1))
    return np.flatnonzero(bad)
