"""gair: geometry-aware instance-reweighted adversarial training (GAIRAT) and its neighbours."""

__version__ = "0.1.0"
