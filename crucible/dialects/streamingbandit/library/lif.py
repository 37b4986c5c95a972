"""`lif`: Lock-in Feedback — optimise a continuous action x by oscillating it around x0 with amplitude a and
moving x0 along the correlation between the oscillation and the reward, measured over a window of T rows.

The window Yw (T rows of [t, x, a·cos(ωt)·y]) is stored as JSON text so its NaN (empty) rows round-trip.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import numpy as np


class LiF:
    """Lock-in Feedback state {Yw, t, x0}; version 1 empties the window after each x0 step, version 2 slides it."""

    def __init__(
        self,
        theta: Mapping[str, Any] | None,
        x0: float = 1.0,
        a: float = 1.4,
        t: int = 100,
        gamma: float = 0.004,
        omega: float = 0.8,
        lifversion: int = 2,
    ) -> None:
        self.a = float(a)
        self.T = int(t)
        self.gamma = float(gamma)
        self.omega = float(omega)
        self.lifversion = int(lifversion)
        if theta:
            window = theta["Yw"]
            if isinstance(window, bytes):
                window = window.decode("utf-8")
            self.Yw: np.ndarray[Any, Any] = np.array(
                json.loads(window) if isinstance(window, str) else window, dtype=float
            ).reshape(-1, 3)
            self.t: int = int(float(theta["t"]))
            self.x0: float = float(theta["x0"])
        else:
            self.Yw = np.full((self.T, 3), np.nan)
            self.t = 0
            self.x0 = float(x0)

    def window_full(self) -> bool:
        return bool(np.all(np.isfinite(self.Yw[:, 0])))

    def suggest(self) -> dict[str, Any]:
        """Next action: step x0 when the window is full, advance t, and oscillate around x0."""
        if self.window_full():
            self.x0 += self.gamma * float(np.sum(self.Yw[:, 2])) / self.T
            if self.lifversion == 1:
                self.Yw = np.full((self.T, 3), np.nan)
        self.t += 1
        return {"x": self.x0 + self.a * math.cos(self.omega * self.t), "t": self.t, "x0": self.x0}

    def update(self, t: Any, x: Any, y: Any, x0: Any) -> bool:
        """Record the reward y of action x taken at time t (around x0) in the window."""
        self.x0 = float(x0)
        self.t = int(float(t))
        row = [float(self.t), float(x), self.a * math.cos(self.omega * self.t) * float(y)]
        empty = np.flatnonzero(np.isnan(self.Yw[:, 0]))
        if empty.size:
            self.Yw[empty[0]] = row
        else:
            self.Yw = np.vstack([self.Yw[1:], row])
        return True

    def get_dict(self) -> dict[str, Any]:
        return {"Yw": json.dumps(self.Yw.tolist()), "t": self.t, "x0": self.x0}
