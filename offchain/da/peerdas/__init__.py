"""PeerDAS (EIP-7594 on BLS12-381): cells, their KZG proofs, verification and recovery; the counterpart
of c-kzg's eip7594/."""
