"""The wire mesh of `amdcgan.hdl.wires` in torch: batched over tiles, CPU or CUDA, float64 or float32, with autograd.

Same mesh, same outputs (outputs = x @ T), by a structured direct solve instead of a sparse factorisation: the mesh
is a ladder of columns joined by row segments, and it is eliminated column by column from the far end, with every
quantity an admittance or a voltage ratio, so that no step subtracts a large wire conductance from a small cell one
(the nodal matrix does, which is why float32 cannot solve it directly).

Column k, seen from its row nodes u_k = (u_0k .. u_R-1,k) with the column wire and termination behind its cells:
cell currents c = S_k u_k with

    S_k = (D^-1 + Z)^-1 = (I + D Z)^-1 D,   D = diag(G[:, k]),
    Z_im = r_col (R - max(i, m)) [+ 1 / g_k with a load]

(Z is the column's impedance matrix: the voltage at v_i per current injected at v_m; R - max(i, m) segments are
shared on the way to the column end). The column output is a_k . u_k with a_k = 1^T S_k / g_k (load: the column-end
voltage, sum c / g_k) or a_k = 1^T S_k (virtual ground: the current into the column end, sum c).

Row side, from the far end: Y_k, the admittance at u_k of columns k..C-1 and the row segments between them,
Y_{C-1} = S_{C-1} and Y_k = S_k + (Y_{k+1}^-1 + r_row I)^-1 = S_k + P_{k+1} Y_{k+1}, where P_k = (I + r_row Y_k)^-1
is the voltage division over the segment in front of column k: u_k = P_k u_{k-1} (u_{-1} = x). Hence
T[:, k] = P_0 P_1 .. P_k a_k, accumulated in the same sweep, and the sources see Y = P_0 Y_0 (read power x^T Y x).

Cost per tile: about 6 R^3 C flops (R x R factorisations and solves per column); float32 keeps about 1e-5 of T.
The solve is exact to rounding, so it has no tolerance to state and nothing to warm-start: after a write, the new
conductances are solved again at the same cost. Gradients flow by autograd through the factorisations.
"""

from __future__ import annotations

import math

import torch
from torch.utils.checkpoint import checkpoint

from amdcgan.errors import UserError


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


def _column(conductances: torch.Tensor, termination: torch.Tensor | None, k: int,
            column_ohm: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(S_k, a_k): column k seen from its row nodes, and its output functional."""
    d = conductances[..., :, k]
    g = None if termination is None else termination[..., k, None]
    if column_ohm == 0:
        if g is None:
            return torch.diag_embed(d), d
        total = d.sum(-1, keepdim=True) + g
        return torch.diag_embed(d) - d[..., :, None] * d[..., None, :] / total[..., None], d / total
    rows = d.shape[-1]
    index = torch.arange(rows, device=d.device)
    impedance = column_ohm * (rows - torch.maximum(index[:, None], index[None, :])).to(d.dtype)
    if g is not None:
        impedance = impedance + (1.0 / g)[..., None]
    identity = torch.eye(rows, dtype=d.dtype, device=d.device)
    cells = torch.linalg.solve(identity + d[..., :, None] * impedance, torch.diag_embed(d))
    cells = 0.5 * (cells + cells.transpose(-1, -2))
    functional = cells.sum(-2)
    return cells, functional if g is None else functional / g


def _grounded_rows(conductances: torch.Tensor, termination: torch.Tensor | None, column_ohm: float, start: int,
                   stop: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Ideal rows (every u_ik = x_i), columns start..stop-1: their block of T and their share of Y."""
    cells, functionals = zip(*(_column(conductances, termination, k, column_ohm) for k in range(start, stop)))
    return torch.stack(functionals, -1), torch.stack(cells).sum(0)


def _ladder(conductances: torch.Tensor, termination: torch.Tensor | None, row_ohm: float, column_ohm: float,
            start: int, stop: int, admittance: torch.Tensor, division: torch.Tensor,
            transfer: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Continue the sweep from the far end over columns stop-1 down to start: (Y_start, P_start, T[:, start:])."""
    identity = torch.eye(conductances.shape[-2], dtype=conductances.dtype, device=conductances.device)
    for k in range(stop - 1, start - 1, -1):
        cells, functional = _column(conductances, termination, k, column_ohm)
        admittance = cells + division @ admittance
        admittance = 0.5 * (admittance + admittance.transpose(-1, -2))
        # P_k explicitly: I + r Y is well conditioned (eigenvalues 1 .. 1 + r |Y|), and two products are faster than
        # triangular solves with as many right-hand sides.
        division = torch.cholesky_inverse(torch.linalg.cholesky(identity + row_ohm * admittance))
        transfer = division @ torch.cat([functional[..., :, None], transfer], -1)
    return admittance, division, transfer


def _sweep(conductances: torch.Tensor, row_ohm: float, column_ohm: float,
           termination_s: float | torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    """(T, Y). With gradients, the columns go in chunks of about sqrt(columns) that backward recomputes
    (activation checkpointing), so that memory does not grow with columns x rows^2."""
    _check(conductances, row_ohm, column_ohm)
    termination = _termination(termination_s, conductances)
    rows, columns = conductances.shape[-2:]
    chunk = max(1, math.isqrt(columns))
    tracked = torch.is_grad_enabled() and any(
        tensor is not None and tensor.requires_grad for tensor in (conductances, termination))

    def run(function, *arguments):
        return checkpoint(function, *arguments, use_reentrant=False) if tracked else function(*arguments)

    if row_ohm == 0:
        parts = [run(_grounded_rows, conductances, termination, column_ohm, start, min(start + chunk, columns))
                 for start in range(0, columns, chunk)]
        return torch.cat([part[0] for part in parts], -1), sum(part[1] for part in parts)
    batch = conductances.shape[:-2]
    options = {"dtype": conductances.dtype, "device": conductances.device}
    admittance = torch.zeros(*batch, rows, rows, **options)
    division = torch.eye(rows, **options).expand(*batch, rows, rows)
    transfer = torch.zeros(*batch, rows, 0, **options)
    for stop in range(columns, 0, -chunk):
        admittance, division, transfer = run(_ladder, conductances, termination, row_ohm, column_ohm,
                                             max(0, stop - chunk), stop, admittance, division, transfer)
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
