"""Shared fixtures: the reference architectures, and a skip for tests that need ngspice when it is missing."""

from __future__ import annotations

from pathlib import Path

import pytest

from amdcgan.hdl.loader import load_architecture

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


@pytest.fixture(scope="session")
def reference_arch():
    return load_architecture(EXAMPLES / "am_dcgan_mnist.yaml")


@pytest.fixture(scope="session")
def small_arch():
    return load_architecture(EXAMPLES / "small_system.yaml")


@pytest.fixture(params=["compiled", "torch"])
def compiled_or_torch(request, monkeypatch):
    """Run a test once on the compiled loops (`amdcgan.gan.kernels`) and once on the torch ops they replace."""
    from amdcgan.gan import kernels

    if request.param == "compiled":
        if kernels.loops() is None:
            pytest.skip("the compiled loops cannot be built here (no C compiler)")
    else:
        monkeypatch.setattr(kernels, "loops", lambda: None)
    return request.param


@pytest.fixture
def fused_path():
    """Which fused dense product computed a layer's output y: "compiled" (`kernels.fused_product`'s node), "torch"
    (`layers._SignCrossbarProduct`), or None (neither); the summing amplifier's own nodes, where it acted, are looked
    through."""
    def path(y):
        node = y.grad_fn
        while node is not None and type(node).__name__ in ("HardtanhBackward0", "MulBackward0"):  # its gain, rails
            node = node.next_functions[0][0]
        if node is not None and node.name().endswith("SignCrossbarProduct>"):
            return "compiled"
        return "torch" if type(node).__name__ == "_SignCrossbarProductBackward" else None
    return path


def _ngspice_installed() -> bool:
    from amdcgan.sim.runner import ngspice_installed

    return ngspice_installed()


def pytest_collection_modifyitems(config, items):
    if _ngspice_installed():
        return
    skip = pytest.mark.skip(reason="ngspice is not installed (apt-get install ngspice libngspice0-dev)")
    for item in items:
        if "spice" in item.keywords:
            item.add_marker(skip)
