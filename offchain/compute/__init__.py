"""Verifiable compute: TEE attestation (Intel TDX, AWS Nitro), policy and verdicts, the development
TEE, OCI image digests and execution receipts.

Modules: ``attest`` (type detection, one entry point), ``tdx``, ``nitro``, ``policy``, ``pki``
(pinned roots, chains, CRLs), ``cbor`` (strict decoder), ``der`` (SGX extension), ``eventlog``
(RTMR/PCR replay), ``receipt`` (canonical encoding shared with the contracts), ``devtee``,
``testca``, ``oci``, ``cli``. See docs/attestation.md and docs/compute.md.
"""
