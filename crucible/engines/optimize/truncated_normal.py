"""Truncated normal distributions, vectorised: the building block of priors and Parzen mixtures.

Everything works in log-probabilities (scipy's log_ndtr / ndtri_exp), so that a component whose
truncation interval lies far in a tail still gives finite, correct numbers instead of 0/0.
"""

from __future__ import annotations

import numpy as np
from scipy.special import log_ndtr, ndtri_exp

_LOG_SQRT_2PI = 0.5 * np.log(2 * np.pi)


def log_mass(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """log(Φ(b) − Φ(a)) for standardised bounds a < b, stable in both tails."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    flip = a > 0  # in the right tail, Φ(b) − Φ(a) = Φ(−a) − Φ(−b) keeps the precision
    lo, hi = np.where(flip, -b, a), np.where(flip, -a, b)
    log_hi, log_lo = log_ndtr(hi), log_ndtr(lo)
    with np.errstate(divide="ignore"):
        return log_hi + np.log1p(-np.exp(log_lo - log_hi))


def log_normaliser(mu: np.ndarray, sigma: np.ndarray, low: float, high: float) -> np.ndarray:
    """log(sigma · √(2π) · mass), so that the truncated log density is −z²/2 − this, z = (x − mu)/sigma."""
    return np.log(sigma) + _LOG_SQRT_2PI + log_mass((low - mu) / sigma, (high - mu) / sigma)


def sample(
    rng: np.random.Generator,
    mu: np.ndarray,
    sigma: np.ndarray,
    low: np.ndarray,
    high: np.ndarray,
    size: int | tuple[int, ...],
) -> np.ndarray:
    """Draws of N(mu, sigma) truncated to [low, high], all broadcast to `size` (inverse CDF in log space)."""
    a, b = np.broadcast_to((low - mu) / sigma, size), np.broadcast_to((high - mu) / sigma, size)
    flip = a > 0
    lo, hi = np.where(flip, -b, a), np.where(flip, -a, b)
    log_lo = log_ndtr(lo)
    u = rng.random(size)
    with np.errstate(divide="ignore"):
        log_u = np.logaddexp(log_lo, np.log(u) + log_mass(lo, hi))
    z = ndtri_exp(np.minimum(log_u, 0.0))
    x = mu + sigma * np.where(flip, -z, z)
    return np.clip(x, low, high)
