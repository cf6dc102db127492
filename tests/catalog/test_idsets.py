"""Integer id sets (catalog.idsets) against numpy's set functions, and bigint_array
(catalog.pgcopy) through PostgreSQL."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from catalog import idsets
from catalog.pgcopy import bigint_array


@pytest.mark.parametrize("n", [0, 1, 2, 7, 1000, 50_000])
def test_id_sets_equal_numpy(n):
    rng = np.random.default_rng(n)
    # duplicates, negative values and values beyond 2**53 (no float round trip)
    a = rng.integers(-3 * n - 1, 3 * n + 2, n) + (1 << 60)
    b = np.concatenate([rng.integers(-3 * n - 1, 3 * n + 2, n // 2 + 1) + (1 << 60), a[:3]])
    for got, want in ((idsets.unique(a), np.unique(a)),
                      (idsets.union(a, b), np.union1d(a, b)),
                      (idsets.difference(a, b), np.setdiff1d(a, b)),
                      (idsets.difference(b, a), np.setdiff1d(b, a)),
                      (idsets.intersection(a, b), np.intersect1d(a, b)),
                      (idsets.member(a, b), np.isin(a, b)),
                      (idsets.member(b, a), np.isin(b, a))):
        assert got.dtype == want.dtype and np.array_equal(got, want)


def test_id_sets_take_any_sequence_of_ids():
    assert idsets.unique({5, 2, 5}).tolist() == [2, 5]
    assert idsets.unique(i for i in (3, 1, 3)).tolist() == [1, 3]
    assert idsets.unique(pd.Series([9, 4, 9])).tolist() == [4, 9]
    assert idsets.union([], [2, 1]).tolist() == [1, 2]
    assert idsets.unique([]).dtype == np.int64
    assert idsets.member([1, 2], []).tolist() == [False, False]
    with pytest.raises(ValueError, match="one-dimensional"):
        idsets.unique([[1, 2], [3, 4]])


def test_bigint_array_reads_back_in_postgresql(engine):
    values = np.array([0, -1, 7, (1 << 62) + 3, 7], dtype=np.int64)
    with engine.connect() as conn:
        for given in (values, values.tolist(), []):
            got = conn.execute(sa.text("SELECT CAST(:a AS bigint[])"),
                               {"a": bigint_array(given)}).scalar_one()
            assert got == [int(v) for v in given]
    with pytest.raises(ValueError, match="one-dimensional"):
        bigint_array(np.zeros((2, 2), dtype=np.int64))
