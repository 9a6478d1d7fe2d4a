"""Crossbar wire resistance: the sparse nodal solve and the torch ladder solve against ngspice, the ideal forms and
each other."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from amdcgan.errors import UserError
from amdcgan.hdl import wires, wires_torch
from amdcgan.hdl.loader import load_architecture
from amdcgan.hdl.spec import Readout, WeightEncoding

G_ON, G_OFF = 1 / 4000, 1 / 25000  # the reference WO2 device
TERMINATIONS = {"virtual_ground": None, "load": G_ON}


def relative_error(measured: np.ndarray, reference: np.ndarray) -> float:
    return float(np.max(np.abs(measured - reference)) / np.max(np.abs(reference)))


def random_crossbar(rows: int, columns: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).uniform(G_OFF, G_ON, (rows, columns))


def ideal(conductances: np.ndarray, termination: float | np.ndarray | None) -> np.ndarray:
    if termination is None:
        return conductances
    return conductances / (conductances.sum(0) + termination)


@pytest.mark.spice
@pytest.mark.parametrize("termination", TERMINATIONS.values(), ids=TERMINATIONS.keys())
@pytest.mark.parametrize("rows,columns", [(4, 3), (8, 8), (16, 16)])
@pytest.mark.parametrize("row_ohm,column_ohm", [(20.0, 70.0), (0.0, 130.0), (190.0, 0.0), (0.2, 1.0)])
def test_fast_solves_equal_ngspice(rows, columns, row_ohm, column_ohm, termination):
    from amdcgan.sim.wire_mesh import spice_mesh

    conductances = random_crossbar(rows, columns, rows * columns)
    inputs = np.random.default_rng(rows).uniform(-0.5, 0.5, rows)
    spice = spice_mesh(conductances, inputs, row_ohm, column_ohm, termination)
    mesh = wires.WireMesh(conductances, row_ohm, column_ohm, termination)
    sparse = inputs @ mesh.transfer()
    ladder = inputs @ wires_torch.effective_transfer(torch.tensor(conductances), row_ohm, column_ohm,
                                                     termination).numpy()
    assert relative_error(sparse, spice.outputs) <= 1e-6
    assert relative_error(ladder, spice.outputs) <= 1e-6
    assert relative_error(mesh.outputs(inputs)[0], spice.outputs) <= 1e-6
    power = wires.read_power_w(conductances, inputs, row_ohm, column_ohm, termination)
    assert abs(power - spice.source_power_w) <= 1e-6 * spice.source_power_w
    # The wires matter in every case here, so agreement is not agreement of two ideal models.
    assert relative_error(inputs @ ideal(conductances, termination), spice.outputs) > 1e-4


@pytest.mark.spice
@pytest.mark.parametrize("rows,columns", [(4, 6), (16, 16)])
@pytest.mark.parametrize("row_ohm,column_ohm", [(20.0, 70.0), (0.0, 130.0), (190.0, 0.0), (0.2, 1.0)])
def test_mirrored_pairs_equal_ngspice(rows, columns, row_ohm, column_ohm):
    from amdcgan.sim.wire_mesh import spice_mesh

    ivc_input = (1 + 1e4) / 200.0  # a finite-gain IVC's input: gain 1e4, feedback 200 ohm
    conductances = random_crossbar(rows, columns, rows + columns)
    inputs = np.random.default_rng(columns).uniform(-0.5, 0.5, rows)
    spice = spice_mesh(conductances, inputs, row_ohm, column_ohm, ivc_input, mirrored_pairs=True)
    mesh = wires.WireMesh(conductances, row_ohm, column_ohm, ivc_input, mirrored_pairs=True)
    assert relative_error(inputs @ mesh.transfer(), spice.outputs) <= 1e-6
    assert relative_error(mesh.outputs(inputs)[0], spice.outputs) <= 1e-6
    power = wires.read_power_w(conductances, inputs, row_ohm, column_ohm, ivc_input, mirrored_pairs=True)
    assert abs(power - spice.source_power_w) <= 1e-6 * spice.source_power_w
    plus, minus = conductances[:, 0::2], conductances[:, 1::2]
    assert relative_error(inputs @ (plus - minus) / (plus.sum(0) + ivc_input), spice.outputs) > 1e-4


@pytest.mark.parametrize("termination", [None, G_ON, np.linspace(G_OFF, G_ON, 5)],
                         ids=["virtual_ground", "load", "load_per_column"])
def test_zero_wire_resistance_gives_the_ideal_forms(termination):
    conductances = random_crossbar(6, 5, 1)
    expected = ideal(conductances, termination)
    sparse = wires.effective_transfer(conductances, 0.0, 0.0, termination)
    loads = None if termination is None else torch.tensor(termination, dtype=torch.float64)
    ladder = wires_torch.effective_transfer(torch.tensor(conductances), 0.0, 0.0, loads).numpy()
    assert relative_error(sparse, expected) <= 1e-13
    assert relative_error(ladder, expected) <= 1e-13
    # and vanishing wires tend to them (the IR drop here is about 2e-3 * ohm)
    assert relative_error(wires.effective_transfer(conductances, 1e-4, 1e-4, termination), expected) <= 1e-6
    assert relative_error(wires_torch.effective_transfer(torch.tensor(conductances), 1e-4, 1e-4, termination).numpy(),
                          expected) <= 1e-6


@pytest.mark.parametrize("encoding", list(WeightEncoding))
@pytest.mark.parametrize("readout", list(Readout))
def test_readout_terminations_are_the_electrical_model_at_ideal_wires(readout, encoding):
    from pathlib import Path

    from amdcgan.hdl.electrical import Cell, Periphery, effective_matrix

    architecture = load_architecture(Path(__file__).parents[1] / "examples" / "am_dcgan_mnist.yaml")
    periphery, cell = Periphery.of(architecture), Cell.of(architecture.device, encoding)
    main, minus = random_crossbar(9, 4, 6), random_crossbar(9, 4, 7)
    signs = np.where(np.random.default_rng(8).random((9, 4)) < 0.5, -1.0, 1.0)
    termination, gain = wires.readout_termination(readout, periphery, 9)
    if encoding is WeightEncoding.sign_crossbar:  # each column read with its inputs sign-switched
        expected = effective_matrix(main, signs, cell, readout, periphery)
        measured = signs * wires.effective_transfer(main, 0.0, 0.0, termination)
    else:
        expected = effective_matrix(main, minus, cell, readout, periphery)
        pairs = np.stack([main, minus], -1).reshape(9, 8)
        if readout is Readout.opamp_ivc:
            measured = wires.effective_transfer(pairs, 0.0, 0.0, termination, mirrored_pairs=True)
        else:
            both = wires.effective_transfer(pairs, 0.0, 0.0, termination)
            measured = both[:, 0::2] - both[:, 1::2]
    assert relative_error(gain * measured, expected) <= 1e-12


def test_ideal_read_power_is_the_cell_dissipation():
    conductances = random_crossbar(6, 5, 2)
    inputs = np.random.default_rng(3).uniform(-0.5, 0.5, (4, 6))
    grounded = wires.read_power_w(conductances, inputs, 0.0, 0.0, None)
    assert np.allclose(grounded, (inputs**2) @ conductances.sum(1), rtol=1e-13)
    column_volts = inputs @ ideal(conductances, G_ON)
    cells = np.einsum("ik,bik->b", conductances, (inputs[:, :, None] - column_volts[:, None, :]) ** 2)
    loads = G_ON * (column_volts**2).sum(1)
    loaded = wires.read_power_w(conductances, inputs, 0.0, 0.0, G_ON)
    assert np.allclose(loaded, cells + loads, rtol=1e-12)


@pytest.mark.parametrize("termination", TERMINATIONS.values(), ids=TERMINATIONS.keys())
@pytest.mark.parametrize("rows,columns", [(7, 12), (12, 7), (1, 5), (5, 1)])
@pytest.mark.parametrize("row_ohm,column_ohm", [(2.5, 0.2), (0.0, 2.5), (1.0, 0.0)])
def test_torch_equals_scipy(rows, columns, row_ohm, column_ohm, termination):
    tiles = np.stack([random_crossbar(rows, columns, seed) for seed in range(3)])
    sparse = np.stack([wires.effective_transfer(tile, row_ohm, column_ohm, termination) for tile in tiles])
    admittance = np.stack([wires.WireMesh(tile, row_ohm, column_ohm, termination).input_admittance()
                           for tile in tiles])
    batch = torch.tensor(tiles)
    assert relative_error(wires_torch.effective_transfer(batch, row_ohm, column_ohm, termination).numpy(),
                          sparse) <= 1e-10
    assert relative_error(wires_torch.input_admittance(batch, row_ohm, column_ohm, termination).numpy(),
                          admittance) <= 1e-10
    single = wires_torch.effective_transfer(batch.float(), row_ohm, column_ohm, termination)
    assert single.dtype == torch.float32
    assert relative_error(single.double().numpy(), sparse) <= 1e-5


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("dtype,tolerance", [(torch.float64, 1e-10), (torch.float32, 1e-4)])
def test_cuda_equals_scipy(dtype, tolerance):
    tiles = np.stack([random_crossbar(64, 48, seed) for seed in range(4)])
    sparse = np.stack([wires.effective_transfer(tile, 1.0, 2.5, G_ON) for tile in tiles])
    cuda = wires_torch.effective_transfer(torch.tensor(tiles, dtype=dtype, device="cuda"), 1.0, 2.5, G_ON)
    assert relative_error(cuda.double().cpu().numpy(), sparse) <= tolerance


@pytest.mark.parametrize("termination", TERMINATIONS.values(), ids=TERMINATIONS.keys())
@pytest.mark.parametrize("row_ohm,column_ohm", [(300.0, 900.0), (0.0, 900.0), (300.0, 0.0)])
def test_gradients_flow_through_the_solve(row_ohm, column_ohm, termination):
    # conductances in units of 100 uS and outputs scaled to order one, so that finite differences resolve them;
    # wires strong enough that they shape the gradient. The full Jacobian once; elsewhere random projections of it.
    unit = 1e-4
    scale = 1.0 / unit if termination is None else 1.0
    conductances = torch.tensor(random_crossbar(4, 3, 4) / unit).unsqueeze(0).repeat(2, 1, 1).requires_grad_()
    full = row_ohm > 0 and column_ohm > 0 and termination is not None

    def transfer(g):
        return wires_torch.effective_transfer(g * unit, row_ohm, column_ohm, termination) * scale

    def admittance(g):
        return wires_torch.input_admittance(g * unit, row_ohm, column_ohm, termination) / unit

    assert torch.autograd.gradcheck(transfer, (conductances,), fast_mode=not full)
    assert torch.autograd.gradcheck(admittance, (conductances,), fast_mode=not full)


def test_bad_input_is_named():
    conductances = random_crossbar(3, 3, 5)
    with pytest.raises(UserError, match="row_ohm"):
        wires.effective_transfer(conductances, -1.0, 0.0)
    with pytest.raises(UserError, match="termination"):
        wires.effective_transfer(conductances, 1.0, 1.0, 0.0)
    with pytest.raises(UserError, match="conductances"):
        wires.effective_transfer(-conductances, 1.0, 1.0)
    with pytest.raises(UserError, match="column_ohm"):
        wires_torch.effective_transfer(torch.tensor(conductances), 0.0, float("nan"))
