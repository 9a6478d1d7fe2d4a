"""amdcgan: hardware description and mixed-signal co-design of analog memristive GAN accelerators."""

__version__ = "0.1.0"
