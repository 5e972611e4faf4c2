"""Verifiable compute: TEE attestation (Intel TDX, AWS Nitro), policy and verdicts, the development
TEE, OCI image digests and execution receipts; images built, checked, unpacked and run in a sandbox.

Modules: ``attest`` (type detection, one entry point), ``tdx``, ``nitro``, ``policy``, ``pki``
(pinned roots, chains, CRLs), ``cbor`` (strict decoder), ``der`` (SGX extension), ``eventlog``
(RTMR/PCR replay), ``receipt`` (canonical encoding shared with the contracts), ``devtee``,
``testca``, ``oci``, ``imagebuild`` (reproducible OCI images from a directory), ``image`` (open an
image, check its digest and blobs), ``unpack`` (safe layer application), ``sandbox`` (bubblewrap),
``executor`` (one task: image -> sandbox -> output + receipt), ``pyimage`` (images running
``python3 -m MODULE``), ``app`` (long-running sandboxed apps, network allowed; ``selftest_app``
checks one), ``taskrun`` (the executor and aggregator processes of the task network),
``eigentrust`` (EigenTrust in exact fixed point: the reference and the task image of
``kernels/eigentrust.c``), ``cli``. See docs/attestation.md,
docs/compute.md and docs/compute-network.md.
"""
