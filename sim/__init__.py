"""SPICE checks of the tiles in ngspice (run in process through PySpice) against hdl's electrical model.

Entry points: `amdcgan.sim.checks.run_checks(arch, out_dir, checks, quick, seed, progress)` (all checks, their
figures and files), `amdcgan.sim.checks.read_tile(...)` (one tile's outputs and read power from ngspice),
`amdcgan.sim.runner.run_netlist(...)` (any netlist, results as numpy arrays), and `amdcgan.sim.activations`
(transfer tables for the GAN). The tile model itself is `amdcgan.hdl.electrical`; the circuits, `amdcgan.hdl.netlist`.
"""
