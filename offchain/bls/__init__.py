"""BN254 BLS as EigenLayer's middleware and EigenDA use it: keys, signatures, proofs of possession,
encrypted keystores and operator-set certificates (docs/bls.md)."""
