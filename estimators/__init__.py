"""Estimators: area, power, and training time and power of an architecture (the paper's Tables I and II)."""

from .estimate import estimate, scaling_comparison, write_estimate_report

__all__ = ["estimate", "scaling_comparison", "with_technology", "write_estimate_report"]
