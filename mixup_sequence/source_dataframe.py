"""The data-frame source: paths and labels from the columns of a pandas `DataFrame`.

With the names of Keras' `flow_from_dataframe`: `x_col` names the column
of paths (relative to `directory`, or as they are if it is None), `y_col`
the labels: one column of class names, integer ids or lists of class
names (multi-label), or a list of columns of 0/1, one per class
(multi-label, multi-hot; the column names are the class names). The label
forms are those of `source_paths.py`. Every row is one sample, in frame
order; errors name rows by the frame's index. pandas is imported only
here, when a frame is given.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from mixup_sequence.source import Source
from mixup_sequence.source_paths import RowName, check_class_names, listing, paths_source


def import_pandas() -> Any:
    """Returns the `pandas` module, or raises an ImportError that says how to install it."""
    try:
        import pandas
    except ImportError as e:
        raise ImportError(
            "`from_dataframe` needs pandas, which is not installed: `pip install pandas` (or pass the paths and "
            "labels as lists to `from_paths`)."
        ) from e
    return pandas


def row_namer(dataframe: Any) -> RowName:
    """Names row `i` of `dataframe` by its index label, as `dataframe.loc` takes it."""
    index = dataframe.index
    return lambda i: f"row {index[i]!r}"


def _check_column(dataframe: Any, column: object, name: str) -> None:
    if not isinstance(column, str):
        raise TypeError(f"`{name}` must be a column name (str). Received: {name}={column!r}")
    if column not in dataframe.columns:
        raise ValueError(
            f"`{name}` must name a column of `dataframe` (columns: {[str(c) for c in dataframe.columns]}). "
            f"Received: {name}={column!r}"
        )
    if list(dataframe.columns).count(column) > 1:
        raise ValueError(f"`{name}` names {list(dataframe.columns).count(column)} columns of `dataframe`: rename them.")


def dataframe_source(
    dataframe: Any,
    directory: str | os.PathLike | None = None,
    *,
    x_col: str = "filename",
    y_col: str | Sequence[str] = "class",
    class_names: Sequence[str] | None = None,
) -> Source:
    """A `Source` of a data frame's rows; touches no disk (see `source_paths.check_files`).

    Args:
        dataframe: A pandas `DataFrame`, one row per image.
        directory: Optional folder the paths in `x_col` are relative to.
        x_col: The column of paths.
        y_col: The column of labels, or a list of 0/1 columns, one per class.
        class_names: Optional class names, in label order (not with a list
            `y_col`, whose column names are the classes).

    Raises:
        ImportError: pandas is not installed.
        TypeError, ValueError: Columns or values that cannot make a source,
            all of them listed with their rows.
    """
    pd = import_pandas()
    if not isinstance(dataframe, pd.DataFrame):
        raise TypeError(f"`dataframe` must be a pandas DataFrame. Received: dataframe of type {type(dataframe)}")
    _check_column(dataframe, x_col, "x_col")
    row = row_namer(dataframe)
    paths = dataframe[x_col]
    missing = paths.isna().to_numpy().nonzero()[0]
    if len(missing):
        raise ValueError(
            f"Every row needs a path: {len(missing)} of {len(dataframe)} have none in column {x_col!r}. Fill them "
            f"in or drop those rows:{listing([row(int(i)) for i in missing])}"
        )
    if isinstance(y_col, str):
        _check_column(dataframe, y_col, "y_col")
        column = dataframe[y_col]
        missing = column.isna().to_numpy().nonzero()[0]
        if len(missing):
            raise ValueError(
                f"Every row needs a label: {len(missing)} of {len(dataframe)} have none in column {y_col!r} (NaN "
                "or None). Label or drop them (multi-label: [] for a row with no class):"
                + listing([row(int(i)) for i in missing])
            )
        labels = column.to_numpy()
        name = f"dataframe[{y_col!r}]"
    else:
        if isinstance(y_col, bytes) or not isinstance(y_col, Sequence) or not y_col:
            raise TypeError(
                f"`y_col` must be a column name, or a non-empty list of column names (one 0/1 column per class). "
                f"Received: y_col={y_col!r}"
            )
        for column_name in y_col:
            _check_column(dataframe, column_name, "y_col")
        check_class_names(list(y_col))  # distinct names
        if class_names is not None:
            raise ValueError(
                "`class_names` must be None with a list `y_col`: the columns are the classes, in that order. "
                f"Received: class_names={class_names!r}, y_col={list(y_col)!r}"
            )
        class_names = list(y_col)
        labels = dataframe[list(y_col)].to_numpy()
        name = f"dataframe[{list(y_col)!r}]"
    return paths_source(
        paths.tolist(),
        labels,
        class_names=class_names,
        directory=directory,
        names=(f"dataframe[{x_col!r}]", name),
        rows=(row, row),
    )
