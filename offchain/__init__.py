"""Off-chain half of the verifiable cloud: crypto, data availability, compute attestation, AI."""

from offchain.errors import EigenError

__all__ = ["EigenError"]
__version__ = "0.1.0"
