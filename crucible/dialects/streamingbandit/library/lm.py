"""`lm`: online (ridge) linear regression kept as sufficient statistics A = I + Σ xᵀx and b = Σ x·y.

A and b are `np.matrix` because experiment code of the original era does matrix arithmetic on them;
internally the class computes with plain arrays so it triggers no `np.matrix` warnings itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from crucible.dialects.streamingbandit.library.literals import as_matrix, as_row, parse_literal


class LM:
    """Linear model with fields b (1×p), A (p×p) and n; `default` comes straight from `get_theta`.

    An empty `default` selects b = [0, 0], A = I₂, n = 0. `p` is accepted for compatibility and unused.
    """

    def __init__(
        self, default: Mapping[str, Any] | None = None, p: int | None = None, add_intercept: bool = False
    ) -> None:
        theta = dict(default) if default else {"b": [[0.0, 0.0]], "A": np.identity(2).tolist(), "n": 0}
        self.add_intercept = bool(add_intercept)
        b = theta.get("b")
        a = theta.get("A")
        self.A: np.matrix[Any, Any] = as_matrix(a) if a is not None else as_matrix(np.identity(_width(b)))
        self.b: np.matrix[Any, Any] = as_matrix(b) if b is not None else as_matrix(np.zeros(self.A.shape[0]))
        self.n: int = int(parse_literal(theta.get("n", 0)))

    @property
    def value(self) -> dict[str, Any]:
        return {"b": self.b, "A": self.A, "n": self.n}

    def update(self, y: Any, x: Any, discount: Any = 1) -> None:
        """Add one observation (y, x) with weight `discount`: A += d·xᵀx, b += d·x·y, n += 1."""
        row = as_row(x, self.add_intercept)
        weight = float(discount)
        self.A = (np.asarray(self.A) + weight * row.T @ row).view(np.matrix)
        self.b = (np.asarray(self.b) + weight * row * float(parse_literal(y))).view(np.matrix)
        self.n += 1

    def get_coefs(self) -> np.ndarray[Any, Any]:
        """The coefficients A⁻¹bᵀ as a 1-D array (the ridge solution with λ = 1 for the default A)."""
        return np.linalg.solve(np.asarray(self.A), np.asarray(self.b).T).reshape(-1)

    def predict(self, x: Any) -> np.matrix[Any, Any]:
        """Coefficient column times the row x: a p×p matrix whose trace is the prediction (original behaviour)."""
        return (self.get_coefs().reshape(-1, 1) @ as_row(x, self.add_intercept)).view(np.matrix)

    def get_dict(self) -> dict[str, Any]:
        return {"b": self.b.tolist(), "A": self.A.tolist(), "n": self.n}


def _width(b: Any) -> int:
    """Number of coefficients implied by b (2 when b is absent too)."""
    return 2 if b is None else as_matrix(b).size
