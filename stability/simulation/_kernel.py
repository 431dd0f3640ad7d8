"""One step of the recursion for a block of runs, vectorised: ``z ← A z + b`` for every run.

The kernel works in the problem's own coordinates. For a frozen preconditioner ``P`` (a
:class:`~stability.dynamics.Preconditioning`, coupled weight decay ``μ``) the state is
``y = (I ⊗ P^{−1/2}) z``, ``z`` the state of the congruent description
(``docs/theory/adaptive.md``): block by block ``y_k = P^{−1/2} z_k``, so ``y_0 = δ``. In these
coordinates the map is ``F ⊗ I + G ⊗ P⁻¹ (H_B + μ I)``, applied directly without any change
of coordinates of the problem.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from stability.dynamics import BatchLaw, BatchSampler, LinearDynamics
from stability.errors import DimensionError, InvalidTypeError, StabilityError
from stability.problems import Quadratic
from stability.simulation._growth import numeric_parts

__all__ = ["Kernel", "build_kernel"]

# Largest number of floats a gathered per-run Hessian block may hold at once.
_GATHER_BUDGET = 1 << 22
# Floats of gathered sample rows processed at once (256 kB, to stay in cache).
_CACHE_BLOCK = 1 << 15


@dataclass(frozen=True, eq=False)
class Kernel:
    """One step of the recursion for a block of runs (picklable, for executors).

    Parameters
    ----------
    identity, gradient : ndarray, shape (m, m)
        ``F(η)`` and ``G(η)``.
    noise_identity, noise_gradient : ndarray, shape (m,), or None
        ``u(η)`` and ``w(η)`` of the additive noise.
    noise_sampler : callable or None
        The noise's own sampler, if any.
    noise_factor : ndarray or None
        ``C`` with ``C Cᵀ = Cov ε`` (Gaussian noise).
    hessian : ndarray, shape (d, d)
        ``H``.
    vectors : ndarray, shape (n, d), or None
        Rank-one samples (``H_i = x_i x_iᵀ``).
    hessians : ndarray, shape (n, d, d), or None
        General per-sample Hessians.
    batch : BatchLaw
        The batch law (its :meth:`~stability.dynamics.BatchLaw.sampler` draws the batches).
    samples : int or None
        ``n``.
    gather : bool
        Draw batches as index arrays.
    full_through_vectors : bool
        Apply ``H`` through the samples (few samples, many parameters).
    rows : tuple of int
        The state blocks with a Hessian term.
    inverse_preconditioner : ndarray or None
        ``P⁻¹`` (a vector for a diagonal ``P``), or ``None``.
    shift : float
        The coupled weight decay ``μ`` inside ``P⁻¹ (H_B + μ I)``.
    loss_factor : ndarray, shape (d, r)
        ``L`` with ``L Lᵀ = H`` (``r = rank H``): the loss is ``½ ‖Lᵀ δ‖²``.
    loss : bool
        Report the loss ``½ δᵀ H δ``.
    sample_losses : bool
        Also report ``½ δᵀ H_i δ`` for every sample.
    """

    identity: np.ndarray
    gradient: np.ndarray
    noise_identity: np.ndarray | None
    noise_gradient: np.ndarray | None
    noise_sampler: Callable[[np.random.Generator, int, int], np.ndarray] | None
    noise_factor: np.ndarray | None
    hessian: np.ndarray
    vectors: np.ndarray | None
    hessians: np.ndarray | None
    batch: BatchLaw
    samples: int | None
    gather: bool
    full_through_vectors: bool
    rows: tuple[int, ...] = field(default=())
    inverse_preconditioner: np.ndarray | None = None
    shift: float = 0.0
    loss_factor: np.ndarray | None = None
    loss: bool = True
    sample_losses: bool = False

    @property
    def blocks(self) -> int:
        """``m``."""
        return int(self.identity.shape[0])

    @property
    def dimension(self) -> int:
        """``d``."""
        return int(self.hessian.shape[0])

    @property
    def noisy(self) -> bool:
        """Whether the recursion has additive noise."""
        return self.noise_gradient is not None

    @property
    def observables(self) -> int:
        """Per-run values recorded at every step: ``‖z‖²``, the loss, per-sample losses."""
        return 1 + int(self.loss) + (self.samples or 0) * int(self.sample_losses)

    def sampler(self, runs: int, rng: np.random.Generator) -> BatchSampler:
        """The batch law's stateful sampler for ``runs`` runs.

        Parameters
        ----------
        runs : int
            The runs of the block.
        rng : numpy.random.Generator
            The block's stream.
        """
        return self.batch.sampler(self.samples, runs, rng, gather=self.gather)

    def draw_batch(self, runs: int, rng: np.random.Generator) -> tuple[Any, ...] | None:
        """One step's batches (``None``, ``("dense", w)`` or ``("gather", i, w)``).

        Parameters
        ----------
        runs : int
            The runs of the block.
        rng : numpy.random.Generator
            The block's stream.
        """
        return self.sampler(runs, rng).next()

    def draw_noise(self, runs: int, rng: np.random.Generator) -> np.ndarray:
        """``runs`` draws of ``ε`` (shape ``(runs, d)``).

        Parameters
        ----------
        runs : int
            The runs of the block.
        rng : numpy.random.Generator
            The block's stream.
        """
        d = self.dimension
        if self.noise_sampler is not None:
            draws = np.asarray(self.noise_sampler(rng, runs, d), dtype=float)
            if draws.shape != (runs, d):
                raise DimensionError(
                    f"the noise sampler must return an array of shape (runs, d) = ({runs}, {d}); "
                    f"got {draws.shape}"
                )
            return draws
        assert self.noise_factor is not None
        return rng.standard_normal((runs, d)) @ self.noise_factor.T

    def apply_batch_hessian(self, vectors: np.ndarray, batch: tuple[Any, ...] | None) -> np.ndarray:
        """``H_B v`` for every run's own batch; ``vectors`` has shape ``(runs, k, d)``.

        Parameters
        ----------
        vectors : ndarray, shape (runs, k, d)
            The vectors ``v``.
        batch : tuple or None
            The step's batches, as drawn by :meth:`draw_batch`.
        """
        runs, count, d = vectors.shape
        if batch is None:
            flat = vectors.reshape(runs * count, d)
            if self.full_through_vectors:
                x = self.vectors
                assert x is not None
                out = (flat @ x.T) @ x / x.shape[0]
            else:
                out = flat @ self.hessian
            return out.reshape(runs, count, d)
        if self.vectors is not None:
            x = self.vectors
            if batch[0] == "dense":
                coefficients = (vectors.reshape(runs * count, d) @ x.T).reshape(runs, count, -1)
                coefficients *= batch[1][:, None, :]
                return (coefficients.reshape(runs * count, -1) @ x).reshape(runs, count, d)
            indices, weights = batch[1], batch[2]
            out = np.empty_like(vectors)
            # slices of runs small enough for the gathered rows to stay in cache
            block = max(1, _CACHE_BLOCK // (indices.shape[1] * d))
            for start in range(0, runs, block):
                part = slice(start, start + block)
                rows = x[indices[part]]  # (block, B, d)
                coefficients = np.matmul(vectors[part], rows.transpose(0, 2, 1))
                coefficients *= weights[part, None, :]
                out[part] = np.matmul(coefficients, rows)
            return out
        # general per-sample Hessians: form each run's H_B in blocks of runs
        assert self.hessians is not None
        out = np.empty_like(vectors)
        block = max(1, _GATHER_BUDGET // (d * d))
        for start in range(0, runs, block):
            part = slice(start, min(runs, start + block))
            if batch[0] == "dense":
                batch_hessians = np.tensordot(batch[1][part], self.hessians, axes=1)
            else:
                indices, weights = batch[1][part], batch[2][part]
                batch_hessians = weights[:, 0, None, None] * self.hessians[indices[:, 0]]
                for column in range(1, indices.shape[1]):
                    batch_hessians += (
                        weights[:, column, None, None] * self.hessians[indices[:, column]]
                    )
            out[part] = np.matmul(vectors[part], batch_hessians)
        return out

    def apply_curvature(self, vectors: np.ndarray, batch: tuple[Any, ...] | None) -> np.ndarray:
        """``P⁻¹ (H_B + μ I) v`` for every run (``H_B v`` without a preconditioner).

        Parameters
        ----------
        vectors : ndarray, shape (runs, k, d)
            The vectors ``v``.
        batch : tuple or None
            The step's batches.
        """
        out = self.apply_batch_hessian(vectors, batch)
        if self.shift:
            out += self.shift * vectors
        inverse = self.inverse_preconditioner
        if inverse is None:
            return out
        if inverse.ndim == 1:
            return out * inverse
        return out @ inverse  # P⁻¹ is symmetric: rows times P⁻¹ are (P⁻¹ v)ᵀ

    def step(
        self, state: np.ndarray, rng: np.random.Generator, sampler: BatchSampler
    ) -> np.ndarray:
        """``z ← A z + b`` for every run; ``state`` has shape ``(runs, m, d)``.

        Parameters
        ----------
        state : ndarray, shape (runs, m, d)
            The runs' states.
        rng : numpy.random.Generator
            The stream of the additive noise.
        sampler : BatchSampler
            The stream of batches (drawn before the noise).
        """
        batch = sampler.next()
        noise = self.draw_noise(state.shape[0], rng) if self.noisy else None
        if self.blocks == 1:
            new = self.identity[0, 0] * state
        else:
            new = np.einsum("ij,rjd->rid", self.identity, state)
        if self.rows:
            rows = list(self.rows)
            if self.blocks == 1:
                vectors = self.gradient[0, 0] * state
            else:
                vectors = np.einsum("ij,rjd->rid", self.gradient[rows], state)
            if noise is not None:
                assert self.noise_gradient is not None
                vectors = vectors + self.noise_gradient[rows][None, :, None] * noise[:, None, :]
            products = self.apply_curvature(vectors, batch)
            if rows == list(range(len(rows))):
                new[:, : len(rows)] += products  # a view: updated in place
            else:
                new[:, rows] += products
        if noise is not None and self.noise_identity is not None and np.any(self.noise_identity):
            new += self.noise_identity[None, :, None] * noise[:, None, :]
        return new

    def measure(self, state: np.ndarray) -> np.ndarray:
        """Per-run ``‖z‖²``, loss ``½ δᵀ H δ`` and per-sample losses: shape ``(k, runs)``.

        One contiguous row per value, so that means over runs are summed pairwise.

        Parameters
        ----------
        state : ndarray, shape (runs, m, d)
            The runs' states (``δ`` is the first block).
        """
        runs = state.shape[0]
        values = np.empty((self.observables, runs))
        values[0] = np.einsum("rmd,rmd->r", state, state)
        error = state[:, 0, :]
        row = 1
        if self.loss:
            assert self.loss_factor is not None
            projected = error @ self.loss_factor
            values[1] = 0.5 * np.einsum("rk,rk->r", projected, projected)
            row = 2
        if self.sample_losses:
            if self.vectors is not None:
                values[row:] = 0.5 * np.square(self.vectors @ error.T)
            else:
                assert self.hessians is not None
                values[row:] = 0.5 * np.einsum(
                    "rd,nde,re->nr", error, self.hessians, error, optimize=True
                )
        return values


def _loss_factor(problem: Quadratic) -> np.ndarray:
    """``L`` (``d × r``) with ``L Lᵀ = H``, from the reduced problem when it is available."""
    try:
        reduced = problem.reduced()
        eigenvalues = np.asarray(reduced.eigenvalues, dtype=float) * float(reduced.scale)
        return np.asarray(reduced.basis, dtype=float) * np.sqrt(np.clip(eigenvalues, 0.0, None))
    except StabilityError:
        eigenvalues, vectors = np.linalg.eigh(np.asarray(problem.hessian, dtype=float))
        return vectors * np.sqrt(np.clip(eigenvalues, 0.0, None))


def build_kernel(
    problem: Quadratic,
    dynamics: LinearDynamics,
    lr: float,
    *,
    loss: bool = True,
    sample_losses: bool = False,
) -> Kernel:
    """The kernel of ``dynamics`` on ``problem`` at learning rate ``lr``.

    Parameters
    ----------
    problem : Quadratic
        The minimum.
    dynamics : LinearDynamics
        The recursion (a frozen preconditioner is applied in the original coordinates).
    lr : float
        The learning rate.
    loss : bool, default True
        Record the loss ``½ δᵀ H δ``.
    sample_losses : bool, default False
        Record the loss of every sample.

    Examples
    --------
    >>> from stability import GD, Quadratic
    >>> build_kernel(Quadratic.from_data([[1.0, 0.0]]), GD().dynamics(), 0.5).loss_factor.shape
    (2, 1)
    """
    dynamics.batch.validate(problem.samples)
    identity, gradient, u, w = numeric_parts(dynamics, lr)
    d = problem.dimension
    factor = None
    sampler = None
    if dynamics.noise is not None:
        sampler = dynamics.noise.sampler
        if sampler is None:
            try:
                covariance = dynamics.noise.covariance_matrix(d)
            except TypeError:
                raise InvalidTypeError(
                    f"the noise covariance of {dynamics.name} is symbolic; simulation needs numbers"
                ) from None
            if covariance.shape != (d, d):
                raise DimensionError(
                    f"the noise covariance of {dynamics.name} has shape {covariance.shape}, but "
                    f"the problem has d={d} parameters"
                )
            eigenvalues, vectors = np.linalg.eigh(0.5 * (covariance + covariance.T))
            factor = vectors * np.sqrt(np.clip(eigenvalues, 0.0, None))
    rows = tuple(
        i for i in range(dynamics.blocks) if np.any(gradient[i]) or (w is not None and w[i] != 0)
    )
    batch = dynamics.batch
    samples = problem.samples
    vectors = problem.data
    hessians = None
    if (not batch.full or sample_losses) and vectors is None and samples is not None:
        hessians = np.asarray(problem.per_sample_hessians(), dtype=float)
    gather = bool(not batch.full and samples is not None and 4 * (batch.batch_size or 0) <= samples)
    full_through = bool(batch.full and vectors is not None and 2 * vectors.shape[0] < d)
    inverse = None
    shift = 0.0
    if dynamics.preconditioning is not None:
        preconditioning = dynamics.preconditioning
        inverse = preconditioning.inverse_factor(d)
        shift = float(preconditioning.shift)
    return Kernel(
        identity=identity,
        gradient=gradient,
        noise_identity=u,
        noise_gradient=w,
        noise_sampler=sampler,
        noise_factor=factor,
        hessian=np.asarray(problem.hessian, dtype=float),
        vectors=None if vectors is None else np.asarray(vectors, dtype=float),
        hessians=hessians,
        batch=batch,
        samples=samples,
        gather=gather,
        full_through_vectors=full_through,
        rows=rows,
        inverse_preconditioner=inverse,
        shift=shift,
        loss_factor=_loss_factor(problem),
        loss=bool(loss),
        sample_losses=bool(sample_losses and samples is not None),
    )
