"""The `gaussian_process` optimiser: Bayesian optimisation with scikit-learn's GaussianProcessRegressor.

Polyaxon's `bo` algorithm needs it (polyaxon.md §4.7); Bender may offer it. Inputs are scaled to [0, 1]
(log parameters in log space, categoricals one-hot), the GP models the loss, and the acquisition
(`ucb`, `ei` or `poi`, all written for minimising the loss) is maximised over candidates: draws from
the prior plus perturbations of the best observations, a cheap local refinement. Candidates are placed
on the grid before scoring, so the acquisition is judged at values that can actually be returned.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.special import ndtr
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import RBF, ConstantKernel, Kernel, Matern, WhiteKernel
from threadpoolctl import threadpool_limits  # installed with scikit-learn, which relies on it

from crucible.engines.optimize.observations import Observation, usable_observations
from crucible.engines.optimize.options import check_choice, check_int, check_number
from crucible.engines.optimize.prior import (
    NumericPrior,
    categorical_value,
    draw_categories,
    from_internal,
    to_internal,
)
from crucible.engines.optimize.space import CategoricalParam, NumericParam, SearchSpace
from crucible.engines.optimize.values import exact_value, snap

_LOCAL_SPREAD = 0.1  # local candidates: sd of the perturbation, as a fraction of the scaled range
_LOCAL_KEEP_CATEGORY = 0.8  # ... and the chance a categorical value of the best observation is kept
_LOCAL_CENTRES = 5  # how many of the best observations local candidates are drawn around
_OPEN_RANGE_WIDTHS = 3.0  # an open bound is scaled as centre ± 3 prior widths


@dataclass(frozen=True)
class GpSettings:
    """Settings of `gaussian_process`, named as in Polyaxon's `bo` block where it has them."""

    kernel: str = "matern"  # "rbf" or "matern"
    nu: float = 2.5  # smoothness of the Matérn kernel
    length_scale: float = 1.0  # initial length scale of every (scaled) input
    n_restarts_optimizer: int = 0  # extra random starts of the kernel-hyperparameter fit
    acquisition_function: str = "ucb"  # "ucb", "ei" or "poi"
    kappa: float = 2.576  # ucb: mean + kappa × sd of the negated loss
    eps: float = 0.0  # ei/poi: improvement must exceed eps
    candidates: int = 1000  # prior draws scored by the acquisition
    local_candidates: int = 500  # perturbations of the best observations scored too
    max_observations: int = 500  # a larger history is subsampled at random (fitting is cubic in it)

    def __post_init__(self) -> None:
        check_choice("kernel", self.kernel, ("rbf", "matern"))
        check_number("nu", self.nu, 0, math.inf, open_low=True, open_high=True)
        check_number("length_scale", self.length_scale, 0, math.inf, open_low=True, open_high=True)
        check_int("n_restarts_optimizer", self.n_restarts_optimizer, 0)
        check_choice("acquisition_function", self.acquisition_function, ("ucb", "ei", "poi"))
        check_number("kappa", self.kappa, 0, math.inf, open_low=False, open_high=True)
        check_number("eps", self.eps, 0, math.inf, open_low=False, open_high=True)
        check_int("candidates", self.candidates, 1)
        check_int("local_candidates", self.local_candidates, 0)
        check_int("max_observations", self.max_observations, 2)


def suggest_gp(
    space: SearchSpace,
    observations: Sequence[Observation],
    rng: np.random.Generator,
    settings: GpSettings,
) -> dict[str, Any] | None:
    """One GP suggestion, or None with fewer than 2 usable observations (the caller draws from the prior)."""
    usable = usable_observations(space, observations)
    if len(usable) < 2:
        return None
    if len(space) == 0:
        return {}
    if len(usable) > settings.max_observations:
        keep = np.sort(rng.choice(len(usable), size=settings.max_observations, replace=False))
        usable = [usable[i] for i in keep]
    encoder = _Encoder(space)
    observed = {p.name: encoder.coordinates(p, [o.params[p.name] for o in usable]) for p in space}
    losses = np.array([o.loss for o in usable], dtype=float)

    model = GaussianProcessRegressor(
        kernel=_kernel(settings),
        alpha=1e-8,
        normalize_y=True,
        n_restarts_optimizer=settings.n_restarts_optimizer,
        random_state=int(rng.integers(2**31)),
    )
    best = np.argsort(losses, kind="stable")[:_LOCAL_CENTRES]
    candidates = _candidates(space, encoder, observed, best, rng, settings)
    # The matrices are small: BLAS threads only add synchronisation, which on a busy 2-core machine
    # made one suggestion take ~1 s instead of ~0.1 s.
    with threadpool_limits(limits=1, user_api="blas"), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence warnings on tiny histories are expected and harmless
        model.fit(encoder.features(observed), losses)
        mean, sd = model.predict(encoder.features(candidates), return_std=True)
    score = _acquisition(settings, mean, sd, float(losses.min()))
    chosen = int(np.argmax(score))
    return {p.name: encoder.value(p, candidates[p.name][chosen]) for p in space}


def _kernel(settings: GpSettings) -> Kernel:
    length_scale = settings.length_scale  # one shared length scale: fitting one per input costs 10x more
    if settings.kernel == "rbf":
        shape: Kernel = RBF(length_scale, length_scale_bounds=(1e-3, 1e3))
    else:
        shape = Matern(length_scale, length_scale_bounds=(1e-3, 1e3), nu=settings.nu)
    return ConstantKernel(1.0, (1e-3, 1e3)) * shape + WhiteKernel(1e-6, (1e-10, 1e-1))


def _acquisition(settings: GpSettings, mean: np.ndarray, sd: np.ndarray, best_loss: float) -> np.ndarray:
    """Acquisition on the negated loss, so that larger is better for all three functions."""
    if settings.acquisition_function == "ucb":
        return -mean + settings.kappa * sd
    sd = np.maximum(sd, 1e-12)
    improvement = best_loss - mean - settings.eps
    z = improvement / sd
    if settings.acquisition_function == "poi":
        return ndtr(z)
    return improvement * ndtr(z) + sd * np.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)


def _candidates(
    space: SearchSpace,
    encoder: _Encoder,
    observed: dict[str, np.ndarray],
    best: np.ndarray,
    rng: np.random.Generator,
    settings: GpSettings,
) -> dict[str, np.ndarray]:
    """Per parameter, coordinates of prior draws followed by local perturbations of the best observations."""
    n_prior, n_local = settings.candidates, settings.local_candidates
    centres = best[rng.integers(len(best), size=n_local)]
    result: dict[str, np.ndarray] = {}
    for param in space:
        if isinstance(param, CategoricalParam):
            kept = observed[param.name][centres]
            keep = (rng.random(n_local) < _LOCAL_KEEP_CATEGORY) & (np.asarray(param.weights)[kept] > 0)
            local = np.where(keep, kept, draw_categories(param, rng, n_local))
            result[param.name] = np.concatenate((draw_categories(param, rng, n_prior), local))
        else:
            prior = encoder.priors[param.name]
            low, high = encoder.ranges[param.name]
            spread = _LOCAL_SPREAD * (high - low)
            local = np.clip(
                observed[param.name][centres] + spread * rng.standard_normal(n_local), prior.lo, prior.hi
            )
            z = np.concatenate((prior.draw(rng, n_prior), local))
            result[param.name] = to_internal(param, snap(param, from_internal(param, z)))
    return result


class _Encoder:
    """Maps parameter values to GP inputs in [0, 1] and candidate coordinates back to exact values.

    A numeric parameter's coordinate is its internal coordinate (ln for log distributions); a categorical
    one's is the index of its value, one-hot encoded in the features."""

    def __init__(self, space: SearchSpace) -> None:
        self.space = space
        self.priors: dict[str, NumericPrior] = {}
        self.ranges: dict[str, tuple[float, float]] = {}
        for param in space:
            if isinstance(param, NumericParam):
                prior = NumericPrior.of(param)
                self.priors[param.name] = prior
                self.ranges[param.name] = _scaled_range(prior)

    def coordinates(self, param: NumericParam | CategoricalParam, values: list[Any]) -> np.ndarray:
        if isinstance(param, CategoricalParam):
            return np.array([param.index_of(value) for value in values], dtype=np.intp)
        return to_internal(param, np.asarray(values, dtype=float))

    def features(self, coordinates: dict[str, np.ndarray]) -> np.ndarray:
        columns: list[np.ndarray] = []
        for param in self.space:
            column = coordinates[param.name]
            if isinstance(param, CategoricalParam):
                columns.append(np.eye(len(param.values))[column])
            else:
                low, high = self.ranges[param.name]
                columns.append(((column - low) / (high - low))[:, None])
        return np.hstack(columns) if columns else np.zeros((0, 0))

    def value(self, param: NumericParam | CategoricalParam, coordinate: Any) -> Any:
        if isinstance(param, CategoricalParam):
            return categorical_value(param, int(coordinate))
        return exact_value(param, float(from_internal(param, np.array([coordinate]))[0]))


def _scaled_range(prior: NumericPrior) -> tuple[float, float]:
    """The internal interval mapped onto [0, 1]: the bounds, or centre ± 3 widths on an open side."""
    reach = _OPEN_RANGE_WIDTHS * prior.width
    low = prior.lo if math.isfinite(prior.lo) else min(prior.centre, prior.hi) - reach
    high = prior.hi if math.isfinite(prior.hi) else max(prior.centre, low) + reach
    return low, high
