"""darts-nexp: differentiable architecture search (DARTS) for visual defect inspection on Nexperia-like images."""
__version__ = "0.2.0"
