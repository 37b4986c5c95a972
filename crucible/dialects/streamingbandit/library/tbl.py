"""`tbl`: Thompson sampling for Bayesian linear regression with a Gaussian prior (precision P, J = P·mean)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from crucible.dialects.streamingbandit.library.literals import as_matrix, as_row, parse_literal


class ThompsonBayesianLinear:
    """Posterior kept as J (1×p), P (p×p) and the noise variance err; an empty `default` is J = [0, 0], P = I₂, err = 1."""

    def __init__(self, default: Mapping[str, Any] | None = None) -> None:
        theta = dict(default) if default else {"J": [[0.0, 0.0]], "P": np.identity(2).tolist(), "err": 1}
        self.J: np.matrix[Any, Any] = as_matrix(theta["J"])
        self.P: np.matrix[Any, Any] = as_matrix(theta["P"])
        self.err: float = float(parse_literal(theta.get("err", 1)))

    @property
    def value(self) -> dict[str, Any]:
        return {"J": self.J, "P": self.P, "err": self.err}

    def update(self, y: Any, x: Any, discount: Any = 1) -> None:
        """Conjugate update with one observation: J += d·x·y/err, P += d·xᵀx/err."""
        row = as_row(x)
        weight = float(discount) / self.err
        self.J = (np.asarray(self.J) + weight * row * float(parse_literal(y))).view(np.matrix)
        self.P = (np.asarray(self.P) + weight * row.T @ row).view(np.matrix)

    def sample(self) -> np.ndarray[Any, Any]:
        """One coefficient vector drawn from the posterior N(P⁻¹Jᵀ, P⁻¹), as a 1-D array."""
        covariance = np.linalg.inv(np.asarray(self.P))
        covariance = (covariance + covariance.T) / 2  # exact symmetry, as multivariate_normal expects
        mean = (covariance @ np.asarray(self.J).T).reshape(-1)
        return np.random.multivariate_normal(mean, covariance)

    def get_dict(self) -> dict[str, Any]:
        return {"J": self.J.tolist(), "P": self.P.tolist(), "err": self.err}
