"""The version of darts-nexp, in a module of its own so that any layer may read it."""
__version__ = "0.3.0"
