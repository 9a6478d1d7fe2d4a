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

from typing import Iterator

import torch

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


def _columns(conductances: torch.Tensor, column_ohm: float, termination: torch.Tensor | None,
             order: range) -> Iterator[tuple[int, torch.Tensor, torch.Tensor]]:
    """(k, S_k, a_k) for the columns in `order`: the column seen from its row nodes, and its output functional."""
    rows = conductances.shape[-2]
    options = {"dtype": conductances.dtype, "device": conductances.device}
    index = torch.arange(rows, device=conductances.device)
    shared = (rows - torch.maximum(index[:, None], index[None, :])).to(conductances.dtype)
    identity = torch.eye(rows, **options)
    for k in order:
        d = conductances[..., :, k]
        g = None if termination is None else termination[..., k, None]
        if column_ohm == 0:
            if g is None:
                yield k, torch.diag_embed(d), d
            else:
                total = d.sum(-1, keepdim=True) + g
                yield k, torch.diag_embed(d) - d[..., :, None] * d[..., None, :] / total[..., None], d / total
            continue
        impedance = column_ohm * shared
        if g is not None:
            impedance = impedance + (1.0 / g)[..., None]
        cells = torch.linalg.solve(identity + d[..., :, None] * impedance, torch.diag_embed(d))
        cells = 0.5 * (cells + cells.transpose(-1, -2))
        functional = cells.sum(-2)
        yield k, cells, functional if g is None else functional / g


def _sweep(conductances: torch.Tensor, row_ohm: float, column_ohm: float,
           termination_s: float | torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    _check(conductances, row_ohm, column_ohm)
    termination = _termination(termination_s, conductances)
    rows, columns = conductances.shape[-2:]
    if row_ohm == 0:
        cells, functionals = zip(*((s, a) for _, s, a in _columns(conductances, column_ohm, termination,
                                                                     range(columns))))
        return torch.stack(functionals, -1), torch.stack(cells).sum(0)
    identity = torch.eye(rows, dtype=conductances.dtype, device=conductances.device)
    admittance = factor = transfer = None
    for k, cells, functional in _columns(conductances, column_ohm, termination, range(columns - 1, -1, -1)):
        admittance = cells if admittance is None else cells + torch.cholesky_solve(admittance, factor)
        admittance = 0.5 * (admittance + admittance.transpose(-1, -2))
        factor = torch.linalg.cholesky(identity + row_ohm * admittance)
        column = functional[..., :, None]
        transfer = column if transfer is None else torch.cat([column, transfer], -1)
        transfer = torch.cholesky_solve(transfer, factor)
    return transfer, torch.cholesky_solve(admittance, factor)


def effective_transfer(conductances_s: torch.Tensor, row_ohm: float, column_ohm: float,
                       termination_s: float | torch.Tensor | None = None) -> torch.Tensor:
    """T (..., rows, columns) for conductances (..., rows, columns) in siemens: outputs = x @ T (volts at a load
    `termination_s` (scalar or (..., columns)), amperes into a virtual ground when None)."""
    return _sweep(conductances_s, float(row_ohm), float(column_ohm), termination_s)[0]


def input_admittance(conductances_s: torch.Tensor, row_ohm: float, column_ohm: float,
                     termination_s: float | torch.Tensor | None = None) -> torch.Tensor:
    """Y (..., rows, rows): the row sources deliver the currents Y x; read power x^T Y x."""
    return _sweep(conductances_s, float(row_ohm), float(column_ohm), termination_s)[1]
