"""SPICE checks of the tiles in ngspice, and a numpy model of a tile that agrees with them.

Entry points: `amdcgan.sim.checks.run_checks(arch, out_dir, checks, quick, seed, progress)` (all checks, their
figures and files), `amdcgan.sim.tile_model.tile_outputs(...)` (the tile in numpy, mirrored by the GAN backend),
`amdcgan.sim.encoding.encode_weights(...)`, and `amdcgan.sim.activations` (transfer tables for the GAN).
"""
