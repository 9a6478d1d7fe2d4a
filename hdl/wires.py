"""Wire resistance in a crossbar: the exact effective transfer of the resistive mesh, by a sparse direct solve.

The mesh (the one `hdl.netlist.crossbar_lines` writes): cell (i, k) has a row node u_ik and a column node v_ik
joined by its memristor G_ik. Row i is driven at its left end by an ideal source x_i through one segment r_row to
u_i0, then u_ik -- r_row -- u_i,k+1. Column k runs from the top cell down, v_ik -- r_col -- v_i+1,k, and its bottom
cell reaches the column end e_k through one more segment r_col. The column end is terminated either

- by a conductance g_k to ground (load memristor readout): the output is the column-end voltage e_k; or
- by a virtual ground (OpAmp IVC): e_k = 0 and the output is the current flowing into it.

Kirchhoff's current law at every free node gives the nodal system (L is the weighted Laplacian of the mesh; known
nodes are the sources and, with a virtual ground, the column ends)

    L_ff V_f = -L_fk V_k,        V_k = B x.

L_ff is symmetric positive definite (every free node reaches a source or a termination), so the network is linear
and reciprocal: outputs = x @ T with T (rows, columns). Load: T_ik = de_k/dx_i. Virtual ground: the current into
e_k is -(L_ef V_f + L_ek V_k). T needs min(rows, columns) solves of L_ff, with one factorisation: the rows as
right-hand sides, or (reciprocity, L_ff = L_ff^T) the output functionals as right-hand sides.

A zero resistance on an axis merges that axis's nodes (r_row = 0: every u_ik is the source x_i; r_col = 0: every
v_ik is the column end e_k), so the ideal forms come out of the same system: load T = G / (colsum(G) + g),
virtual ground T = G.

Read power drawn from the row sources: the source currents are I = Y x with the input admittance
Y = L_ss - L_sf L_ff^-1 L_fs (rows, rows), so P = x^T Y x (per input vector; all of it dissipated in the cells, the
wires and the load, none in a virtual ground, which sits at 0 V).

An OpAmp IVC of finite open-loop gain A with feedback R_f holds its input at -V_amp / A, which is a conductance
(1 + A) / R_f to ground: the load case with g_k = (1 + A) / R_f, the IVC's re-inverted output being A e_k (before
its clipping). `readout_termination` gives both readouts in these terms; with ideal wires they are exactly
`electrical.Periphery.column_gain`.

Rounding: L_ff holds wire conductances (1/r, ~5 S at 0.2 ohm) beside cell ones (~1e-4 S), so T is good to about
1e-12 at realistic wires, and loses digits as wires vanish (4e-7 at 1e-6 ohm): 0 ohm merges the nodes instead, and
`amdcgan.hdl.wires_torch` solves the same mesh in a form that keeps its digits at any wire resistance.

How each tile maps onto the mesh (checked against `electrical.effective_matrix` at ideal wires in the tests):
- sign crossbar: a column is read with the row inputs sign-switched for it, so its output is sum_i s_ij x_i T_ij:
  the effective signed matrix is s * T (times the readout's output factor);
- differential pair, load memristors: G+ and G- are physical columns side by side, each with its own load; the
  difference amplifier takes T[:, 0::2] - T[:, 1::2];
- differential pair, IVC: `mirrored_pairs`, the G- column's current mirrored out of the G+ summing node. This one
  is solved here only (the torch ladder is symmetric by construction); there, the virtual-ground transfer
  (T+ - T-) times `electrical.Periphery.column_gain` is within 1e-4 of it up to 128 rows and 2.5 ohm.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sparse
import scipy.sparse.linalg as sparse_linalg

from amdcgan.errors import UserError

from .electrical import Periphery
from .spec import Readout


@dataclass(frozen=True)
class _Nodes:
    """Node numbering: free nodes 0..n_free-1, known nodes n_free..; merged axes reuse the node they merge into."""

    row: np.ndarray  # (rows, columns): node of u_ik
    column: np.ndarray  # (rows, columns): node of v_ik
    source: np.ndarray  # (rows,)
    end: np.ndarray  # (columns,)
    n_free: int
    n_total: int


def _number_nodes(rows: int, columns: int, row_ohm: float, column_ohm: float, grounded: np.ndarray) -> _Nodes:
    """`grounded` (columns,): column ends held at 0 V (known nodes); the others are free, with a termination."""
    taken = 0

    def take(*shape: int) -> np.ndarray:
        nonlocal taken
        block = np.arange(taken, taken + int(np.prod(shape))).reshape(shape)
        taken += block.size
        return block

    # Free nodes first, cell by cell with a cell's row and column nodes side by side: a local order to factorise.
    row = column = None
    if row_ohm > 0 and column_ohm > 0:
        pairs = take(rows, columns, 2)
        row, column = pairs[..., 0], pairs[..., 1]
    elif row_ohm > 0:
        row = take(rows, columns)
    elif column_ohm > 0:
        column = take(rows, columns)
    end = np.empty(columns, dtype=int)
    end[~grounded] = take(int(np.sum(~grounded)))
    n_free = taken
    source = take(rows)
    end[grounded] = take(int(np.sum(grounded)))
    row = row if row is not None else np.repeat(source[:, None], columns, axis=1)
    column = column if column is not None else np.repeat(end[None, :], rows, axis=0)
    return _Nodes(row, column, source, end, n_free, taken)


def _laplacian(conductances: np.ndarray, row_ohm: float, column_ohm: float, termination: np.ndarray,
               nodes: _Nodes) -> sparse.csc_matrix:
    """The mesh's weighted Laplacian over all nodes (ground eliminated); `termination` (columns,): each column end's
    conductance to ground (0 where the end is grounded)."""
    rows, columns = conductances.shape
    heads, tails, weights = [nodes.row.ravel()], [nodes.column.ravel()], [conductances.ravel()]
    if row_ohm > 0:
        chain = np.concatenate([nodes.source[:, None], nodes.row], axis=1)  # source, u_i0 .. u_i,C-1
        heads.append(chain[:, :-1].ravel())
        tails.append(chain[:, 1:].ravel())
        weights.append(np.full(rows * columns, 1.0 / row_ohm))
    if column_ohm > 0:
        chain = np.concatenate([nodes.column, nodes.end[None, :]], axis=0)  # v_0k .. v_R-1,k, e_k
        heads.append(chain[:-1].ravel())
        tails.append(chain[1:].ravel())
        weights.append(np.full(rows * columns, 1.0 / column_ohm))
    a, b, g = (np.concatenate(part) for part in (heads, tails, weights))
    diagonal = np.bincount(a, g, nodes.n_total) + np.bincount(b, g, nodes.n_total)
    diagonal[nodes.end] += termination
    index = np.arange(nodes.n_total)
    matrix = sparse.coo_matrix((np.concatenate([diagonal, -g, -g]),
                                (np.concatenate([index, a, b]), np.concatenate([index, b, a]))),
                               shape=(nodes.n_total, nodes.n_total))
    return matrix.tocsc()


class WireMesh:
    """One crossbar with its wires, factorised once: its effective transfer and its input admittance.

    conductances_s: (rows, columns) memristor conductances in siemens.
    row_ohm, column_ohm: wire resistance of one cell segment on the rows and on the columns (0 = ideal axis).
    termination_s: conductance (scalar or one per output) from each column end to ground: a load memristor, or the
    input of a finite-gain IVC (`readout_termination`); None = every column end at a virtual ground, the output
    being the current into it.
    mirrored_pairs: the columns are (G+, G-) pairs, as a differential pair with an IVC reads them: each G- column
    ends at a virtual ground whose current a mirror draws from the end of its G+ column, which is terminated by
    termination_s; the outputs are the G+ column-end voltages, one per pair. The mirror makes the nodal matrix
    unsymmetric (the G+ end's row less the G- end's), so this case is factorised with pivoting.
    """

    def __init__(self, conductances_s: np.ndarray, row_ohm: float, column_ohm: float,
                 termination_s: float | np.ndarray | None = None, mirrored_pairs: bool = False):
        g = np.asarray(conductances_s, dtype=float)
        if g.ndim != 2 or 0 in g.shape:
            raise UserError(f"crossbar conductances must be a (rows, columns) array, got shape {g.shape}")
        if not np.all(np.isfinite(g)) or np.any(g < 0):
            raise UserError("crossbar conductances must be finite and >= 0 siemens")
        for name, value in (("row_ohm", row_ohm), ("column_ohm", column_ohm)):
            if not np.isfinite(value) or value < 0:
                raise UserError(f"wire resistance {name} must be finite and >= 0 ohm, got {value}")
        rows, columns = g.shape
        if mirrored_pairs and (columns % 2 or termination_s is None):
            raise UserError("mirrored pairs need an even number of columns (G+, G-) and a termination for the G+ ends")
        self.shape = g.shape
        self.virtual_ground = termination_s is None
        self.mirrored_pairs = mirrored_pairs
        self.output_columns = np.arange(0, columns, 2) if mirrored_pairs else np.arange(columns)
        grounded = np.full(columns, self.virtual_ground)
        termination = np.zeros(columns)
        if not self.virtual_ground:
            loads = np.broadcast_to(np.asarray(termination_s, dtype=float), self.output_columns.shape)
            if not np.all(np.isfinite(loads)) or np.any(loads <= 0):
                raise UserError("column termination conductance must be finite and > 0 siemens "
                                "(None for a virtual ground)")
            termination[self.output_columns] = loads
            grounded[1::2] = mirrored_pairs
        self.nodes = _number_nodes(rows, columns, float(row_ohm), float(column_ohm), grounded)
        matrix = _laplacian(g, float(row_ohm), float(column_ohm), termination, self.nodes)
        if mirrored_pairs:
            # KCL at a G+ end: what the mesh brings in, less the G- current the mirror draws (-(L_e- . V)).
            plus, minus = self.nodes.end[0::2], self.nodes.end[1::2]
            draw = sparse.csc_matrix((np.ones(plus.size), (plus, minus)), shape=matrix.shape)
            matrix = (matrix - draw @ matrix).tocsc()
        free = self.nodes.n_free
        self._free_free = matrix[:free, :free]
        self._free_known = matrix[:free, free:]
        self._known_free = matrix[free:, :free]
        self._known_known = matrix[free:, free:].toarray()
        self._factor = None

    def _solve(self, right_hand_sides: np.ndarray, transposed: bool = False) -> np.ndarray:
        if self.nodes.n_free == 0:
            return np.zeros((0, right_hand_sides.shape[1]))
        if self._factor is None:
            if self.mirrored_pairs:
                self._factor = sparse_linalg.splu(self._free_free, permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.1)
            else:  # SPD and diagonally dominant: no pivoting needed, a symmetric fill-reducing order
                self._factor = sparse_linalg.splu(self._free_free, permc_spec="MMD_AT_PLUS_A",
                                                  diag_pivot_thresh=0.0, options={"SymmetricMode": True})
        return self._factor.solve(np.asfortranarray(right_hand_sides), trans="T" if transposed else "N")

    def _known(self, nodes: np.ndarray) -> np.ndarray:
        return nodes - self.nodes.n_free

    def _readout(self) -> tuple[sparse.csc_matrix, np.ndarray, sparse.csc_matrix]:
        """A_fs (free, rows), and the outputs as direct^T x + functional^T V_f: direct (rows, outputs),
        functional (free, outputs)."""
        sources = self._free_known[:, self._known(self.nodes.source)]
        ends = self.nodes.end[self.output_columns]
        if self.virtual_ground:
            # current into e_k = -(L_ef V_f + L_es x)
            direct = -self._known_known[np.ix_(self._known(ends), self._known(self.nodes.source))].T
            return sources, direct, -self._known_free[self._known(ends)].T
        picks = sparse.csc_matrix((np.ones(ends.size), (ends, np.arange(ends.size))),
                                  shape=(self.nodes.n_free, ends.size))
        return sources, np.zeros((self.shape[0], ends.size)), picks

    def transfer(self) -> np.ndarray:
        """T (rows, outputs): column outputs = x @ T (volts at a termination, amperes into a virtual ground)."""
        sources, direct, functional = self._readout()
        # T = direct - (functional^T A_ff^-1 A_fs)^T: as many solves as the fewer of rows and outputs
        if self.shape[0] <= functional.shape[1]:
            return direct - (functional.T @ self._solve(sources.toarray())).T
        return direct - sources.T @ self._solve(functional.toarray(), transposed=True)

    def outputs(self, inputs_v: np.ndarray) -> np.ndarray:
        """Column outputs (batch, outputs) for row voltages (batch, rows), one solve per input vector: cheaper than
        `transfer` for fewer vectors than the tile's shorter side."""
        x = np.atleast_2d(np.asarray(inputs_v, dtype=float))
        sources, direct, functional = self._readout()
        return x @ direct - (functional.T @ self._solve(np.asarray(sources @ x.T))).T

    def input_admittance(self) -> np.ndarray:
        """Y (rows, rows): the currents the row sources deliver are Y x (siemens)."""
        sources = self._known(self.nodes.source)
        own = self._known_known[np.ix_(sources, sources)]
        if self.nodes.n_free == 0:
            return own
        response = self._solve(self._free_known[:, sources].toarray())
        return own - np.asarray(self._known_free[sources] @ response)


def readout_termination(readout: Readout, periphery: Periphery, rows: int) -> tuple[float, float]:
    """(termination_s, output_v_per_v): the conductance a single-ended column readout presents at the column end,
    and the factor from the column-end voltage to the readout's output before its clipping. Load memristor: g_L, 1.
    OpAmp IVC of gain A and feedback R_f: (1 + A) / R_f, A."""
    if readout is Readout.load_memristor:
        return periphery.g_load, 1.0
    return (1.0 + periphery.opamp_gain) / periphery.feedback(rows), periphery.opamp_gain


def effective_transfer(conductances_s: np.ndarray, row_ohm: float, column_ohm: float,
                       termination_s: float | np.ndarray | None = None, mirrored_pairs: bool = False) -> np.ndarray:
    """T (rows, outputs) of a crossbar with wires; outputs = x @ T. See `WireMesh`."""
    return WireMesh(conductances_s, row_ohm, column_ohm, termination_s, mirrored_pairs).transfer()


def read_power_w(conductances_s: np.ndarray, inputs_v: np.ndarray, row_ohm: float, column_ohm: float,
                 termination_s: float | np.ndarray | None = None, mirrored_pairs: bool = False) -> np.ndarray:
    """Power (watts) the row sources deliver for each row-voltage vector in `inputs_v` (..., rows): x^T Y x."""
    x = np.asarray(inputs_v, dtype=float)
    admittance = WireMesh(conductances_s, row_ohm, column_ohm, termination_s, mirrored_pairs).input_admittance()
    return np.einsum("...i,ij,...j->...", x, admittance, x)
