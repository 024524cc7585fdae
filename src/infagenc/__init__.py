"""infagenc: generative data augmentation for small skeleton action datasets (InfAGenC, WACV 2025)."""
__version__ = "0.1.0"
