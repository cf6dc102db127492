"""Model artifacts: joblib files under ``LIVECAT_HOME/models``, loaded only by hash.

The fitted model of a run is written with joblib to ``LIVECAT_HOME/models/<run id>.joblib``
(atomically); its SHA-256 is recorded on the run, and :func:`load_artifact` unpickles the
file only when its bytes still have that hash (unpickling runs code: a replaced file must
not be loaded).
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import Any

from catalog.errors import LivecatError
from catalog.files import write_atomic
from catalog.settings import Settings


class ArtifactError(LivecatError):
    """A model artifact is missing or its bytes do not match the hash its run recorded."""


def sha256_bytes(data: bytes) -> str:
    """Hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def models_dir(home: Path | None = None) -> Path:
    """``LIVECAT_HOME/models`` (created)."""
    home = Settings.from_env().home if home is None else Path(home)
    path = home / "models"
    path.mkdir(parents=True, exist_ok=True)
    return path


def save_artifact(obj: Any, path: Path) -> str:
    """Write ``obj`` with joblib to ``path`` (atomically) and return the file's SHA-256."""
    import joblib

    buf = io.BytesIO()
    joblib.dump(obj, buf, compress=3)
    data = buf.getvalue()
    write_atomic(path, data)
    return sha256_bytes(data)


def load_artifact(path: str | Path, sha256: str, what: str = "model artifact") -> Any:
    """Load a joblib artifact only when its bytes have the SHA-256 ``sha256``.

    Raises
    ------
    ArtifactError
        When the file is missing or its hash differs.
    """
    import joblib

    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ArtifactError(f"{what} {path} cannot be read ({exc.strerror or exc}); "
                            f"was LIVECAT_HOME moved? Retrain with `livecat classify train`"
                            ) from None
    actual = sha256_bytes(data)
    if actual != sha256:
        raise ArtifactError(f"{what} {path} has SHA-256 {actual}, but the run recorded {sha256}: "
                            f"the file was changed or replaced, so it is not loaded; "
                            f"retrain with `livecat classify train`")
    return joblib.load(io.BytesIO(data))
