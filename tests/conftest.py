"""Test-wide settings."""
import torch

# The test models are tiny: one thread is as fast as two, and it does not collapse when the machine is shared
# (torch's thread pool spins and oversubscribes under load, making small ops 100x slower).
torch.set_num_threads(1)
