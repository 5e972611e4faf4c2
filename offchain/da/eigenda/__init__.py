"""EigenDA (blob version 0 on BN254): encoding parameters, the encoder, FK20 multiproofs, verification
and recovery."""
