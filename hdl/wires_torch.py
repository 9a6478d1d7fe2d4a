"""The wire mesh of `amdcgan.hdl.wires` in torch: batched over tiles, CPU or CUDA, float64 or float32, with autograd.

Same mesh, same outputs (outputs = x @ T), by a structured direct solve instead of a sparse factorisation: the mesh
is a ladder of columns joined by row segments, and it is eliminated column by column from the far end, with every
quantity an admittance or a voltage ratio, so that no step subtracts a large wire conductance from a small cell one
(the nodal matrix does, which is why float32 cannot solve it directly).

Column k, seen from its row nodes u_k = (u_0k .. u_R-1,k) with the column wire and termination behind its cells:
cell currents c = S_k u_k with

    S_k = D - D M_k^-1 D,   D = diag(G[:, k]),

M_k the nodal matrix of the column chain with its row nodes grounded. M_k^-1 comes from two recursions down and up
the chain in series and parallel combinations of positive admittances (`_profile`), in O(R) per column, and S_k, a
(R x R) block, is formed from them without subtracting anything large. The column output is a_k . u_k: the
bottom node's voltage (M_k^-1 D u_k)_R-1 divided over the last segment into the load (load: output the column-end
voltage) or times the last segment's conductance (virtual ground: output the current into the column end).

Row side, from the far end: Y_k, the admittance at u_k of columns k..C-1 and the row segments between them,
Y_{C-1} = S_{C-1} and Y_k = S_k + (Y_{k+1}^-1 + r_row I)^-1 = S_k + P_{k+1} Y_{k+1}, where P_k = (I + r_row Y_k)^-1
is the voltage division over the segment in front of column k: u_k = P_k u_{k-1} (u_{-1} = x). Hence
T[:, k] = P_0 P_1 .. P_k a_k, accumulated in the same sweep, and the sources see Y = P_0 Y_0 (read power x^T Y x).

Cost per tile: about 4 R^3 C flops (an R x R factorisation, inverse and products per column). The solve is direct
and exact to rounding (float64: 1e-12 of T against the sparse solve; float32: about 1e-5), so it has no tolerance to
state and nothing to warm-start: after a write, the new conductances are solved again at the same cost. Gradients
flow by autograd through the recursions and factorisations.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial

import torch
from torch.utils.checkpoint import checkpoint

from amdcgan.errors import UserError

BLOCK_ELEMENTS = 1 << 18  # column blocks formed at once (tiles x columns x rows^2): 2 MiB in float64, cache-sized


def _termination(termination_s: float | torch.Tensor | None, conductances: torch.Tensor) -> torch.Tensor | None:
    if termination_s is None:
        return None
    columns = conductances.shape[-1]
    batch = conductances.shape[:-2]
    value = torch.as_tensor(termination_s, dtype=conductances.dtype, device=conductances.device)
    value = value.expand(*batch, columns)
    if not bool(torch.all(value > 0)):
        raise UserError("column termination conductance must be > 0 siemens (None for a virtual ground)")
    return value


def _check(conductances: torch.Tensor, row_ohm: float, column_ohm: float) -> None:
    if conductances.ndim < 2 or 0 in conductances.shape[-2:]:
        raise UserError(f"crossbar conductances must be a (..., rows, columns) tensor, got {tuple(conductances.shape)}")
    for name, value in (("row_ohm", row_ohm), ("column_ohm", column_ohm)):
        if not (value >= 0 and value < float("inf")):
            raise UserError(f"wire resistance {name} must be finite and >= 0 ohm, got {value}")


@dataclass(frozen=True)
class _Columns:
    """Every column chain of a batch of tiles, reduced to per-node profiles (..., C, R) by its recursions, from which
    blocks of S_k and a_k are formed."""

    d: torch.Tensor  # cell conductances per column
    around: torch.Tensor  # admittance of the column chain around each node (above plus below)
    diagonal: torch.Tensor  # M^-1_ii
    decay: torch.Tensor  # log prod_{j<i} g / (g + s_j): the voltage division up the chain from node i to the top
    to_output: torch.Tensor | float  # bottom-node voltage -> output


def _profile(conductances: torch.Tensor, termination: torch.Tensor | None, column_ohm: float) -> _Columns:
    """The column chain of cells d to the row nodes (ground here), segments g = 1/r_col, bottom node to the end through
    g, the end to ground through the load or at a virtual ground: its nodal matrix M and the profiles of M^-1.

    Every quantity is a sum or a series combination of positive admittances, so nothing cancels: eliminating the
    nodes above node i leaves it the shunt s_i = d_i + up_i, up_i = g s_{i-1} / (g + s_{i-1}); below it likewise
    down_i; M^-1_ii = 1 / (up_i + d_i + down_i), and M^-1_im (i < m) = M^-1_mm prod_{j=i..m-1} g / (g + s_j), the
    voltage division up the chain."""
    d = conductances.transpose(-1, -2)
    rows = d.shape[-1]
    g = 1.0 / column_ohm
    g_load = None if termination is None else termination
    end = g if g_load is None else g * g_load / (g + g_load)
    shunt = d[..., 0]
    ups, log_ratios = [torch.zeros_like(shunt)], [torch.zeros_like(shunt)]
    for i in range(1, rows):
        log_ratios.append(torch.log(g / (g + shunt)))
        ups.append(g * shunt / (g + shunt))
        shunt = d[..., i] + ups[-1]
    downs = [torch.zeros_like(shunt) + end]
    for i in range(rows - 2, -1, -1):
        below = d[..., i + 1] + downs[-1]
        downs.append(g * below / (g + below))
    around = torch.stack(ups, -1) + torch.stack(downs[::-1], -1)
    to_output = g if g_load is None else (g / (g + g_load))[..., None]
    return _Columns(d, around, 1.0 / (around + d), torch.cumsum(torch.stack(log_ratios, -1), -1), to_output)


def _block(columns: _Columns, start: int, stop: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(S, a) of columns start..stop-1: S (..., n, R, R) maps a column's row-node voltages to its cell currents,
    a (..., n, R) is its output functional."""
    d, around, diagonal = (part[..., start:stop, :] for part in (columns.d, columns.around, columns.diagonal))
    decay = columns.decay[..., start:stop, :]
    rows = d.shape[-1]
    index = torch.arange(rows, device=d.device)
    farther = torch.maximum(index[:, None], index[None, :])
    inverse = diagonal[..., farther] * torch.exp(-(decay[..., :, None] - decay[..., None, :]).abs())
    eye = torch.eye(rows, dtype=torch.bool, device=d.device)
    cells = torch.where(eye, (d * around / (around + d))[..., None], -(d[..., :, None] * d[..., None, :]) * inverse)
    to_output = columns.to_output
    if isinstance(to_output, torch.Tensor):
        to_output = to_output[..., start:stop, :]
    return cells, d * inverse[..., rows - 1, :] * to_output


def _ideal_block(conductances: torch.Tensor, termination: torch.Tensor | None, start: int,
                 stop: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(S, a) of columns start..stop-1 with ideal column wires (one node per column)."""
    d = conductances[..., :, start:stop].transpose(-1, -2)
    if termination is None:
        return torch.diag_embed(d), d
    total = d.sum(-1, keepdim=True) + termination[..., start:stop, None]
    return torch.diag_embed(d) - d[..., :, None] * d[..., None, :] / total[..., None], d / total


def _grounded_rows(block, start: int, stop: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Ideal rows (every u_ik = x_i), columns start..stop-1: their block of T and their share of Y."""
    cells, functionals = block(start, stop)
    return functionals.transpose(-1, -2), cells.sum(-3)


def _ladder(block, row_ohm: float, start: int, stop: int, admittance: torch.Tensor, division: torch.Tensor,
            transfer: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Continue the sweep from the far end over columns stop-1 down to start: (Y_start, P_start, T[:, start:])."""
    identity = torch.eye(admittance.shape[-1], dtype=admittance.dtype, device=admittance.device)
    cells, functionals = block(start, stop)
    for k in range(stop - 1, start - 1, -1):
        admittance = cells[..., k - start, :, :] + division @ admittance
        admittance = 0.5 * (admittance + admittance.transpose(-1, -2))
        # P_k explicitly: I + r Y is well conditioned (eigenvalues 1 .. 1 + r |Y|), and two products are faster than
        # triangular solves with as many right-hand sides.
        division = torch.cholesky_inverse(torch.linalg.cholesky(identity + row_ohm * admittance))
        transfer = division @ torch.cat([functionals[..., k - start, :, None], transfer], -1)
    return admittance, division, transfer


def _sweep(conductances: torch.Tensor, row_ohm: float, column_ohm: float,
           termination_s: float | torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    """(T, Y). The column blocks S (tiles x n x rows^2) are formed n columns at a time: BLOCK_ELEMENTS at most, and
    with gradients at most about sqrt(columns), those chunks being recomputed in backward (activation
    checkpointing) so that memory does not grow with columns x rows^2."""
    _check(conductances, row_ohm, column_ohm)
    termination = _termination(termination_s, conductances)
    rows, columns = conductances.shape[-2:]
    tracked = torch.is_grad_enabled() and any(
        tensor is not None and tensor.requires_grad for tensor in (conductances, termination))
    chunk = BLOCK_ELEMENTS // (math.prod(conductances.shape[:-2]) * rows * rows)
    chunk = min(max(1, chunk), math.isqrt(columns) if tracked else columns)
    if column_ohm == 0:
        block = partial(_ideal_block, conductances, termination)
    else:
        block = partial(_block, _profile(conductances, termination, column_ohm))

    def run(function, *arguments):
        return checkpoint(function, *arguments, use_reentrant=False) if tracked else function(*arguments)

    if row_ohm == 0:
        parts = [run(_grounded_rows, block, start, min(start + chunk, columns)) for start in range(0, columns, chunk)]
        return torch.cat([part[0] for part in parts], -1), sum(part[1] for part in parts)
    batch = conductances.shape[:-2]
    options = {"dtype": conductances.dtype, "device": conductances.device}
    admittance = torch.zeros(*batch, rows, rows, **options)
    division = torch.eye(rows, **options).expand(*batch, rows, rows)
    transfer = torch.zeros(*batch, rows, 0, **options)
    for stop in range(columns, 0, -chunk):
        admittance, division, transfer = run(_ladder, block, row_ohm, max(0, stop - chunk), stop, admittance,
                                             division, transfer)
    return transfer, division @ admittance


def effective_transfer(conductances_s: torch.Tensor, row_ohm: float, column_ohm: float,
                       termination_s: float | torch.Tensor | None = None) -> torch.Tensor:
    """T (..., rows, columns) for conductances (..., rows, columns) in siemens: outputs = x @ T (volts at a load
    `termination_s` (scalar or (..., columns)), amperes into a virtual ground when None)."""
    return _sweep(conductances_s, float(row_ohm), float(column_ohm), termination_s)[0]


def input_admittance(conductances_s: torch.Tensor, row_ohm: float, column_ohm: float,
                     termination_s: float | torch.Tensor | None = None) -> torch.Tensor:
    """Y (..., rows, rows): the row sources deliver the currents Y x; read power x^T Y x."""
    return _sweep(conductances_s, float(row_ohm), float(column_ohm), termination_s)[1]
