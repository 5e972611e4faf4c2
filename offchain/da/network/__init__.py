"""The EigenDA V2 network: message types and hashes, chunk assignment (docs/da-network.md)."""
