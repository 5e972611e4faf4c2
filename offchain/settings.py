"""Every ``EIGEN_*`` environment setting, in one place.

Each setting is read when it is asked for (never cached at import), so a test or a long-running
process that changes the environment sees the change. Nothing else in the package reads ``EIGEN_*``
variables; ``docs/settings.md`` lists the same table (a test keeps the two in step).

| name | default | meaning |
|---|---|---|
| ``EIGEN_NATIVE`` | ``1`` | ``0``/``false``/``no``/``off`` disables the C kernels (array code, same results) |
| ``EIGEN_NATIVE_DIR`` | ``.cache/native`` | where compiled kernels are cached |
| ``EIGEN_G1_NVRTC_OPTIONS`` | empty | extra nvrtc options for the GPU G1 kernel (tuning runs) |
| ``EIGEN_DA_SRS`` | unset | directory with EigenDA's SRS files for ``eigen da`` |
| ``EIGEN_DA_CACHE`` | ``.cache/da`` | FK20 table cache of ``eigen da encode`` and the disperser; ``off`` keeps tables in memory |
| ``EIGEN_DA_METADATA_URL`` | unset | the DA disperser's metadata database (``postgresql://…`` or ``sqlite:///PATH``), over the config files' |
| ``EIGEN_DA_CLAIM_INTERVAL`` | ``30`` | seconds between the DA disperser's claims of on-demand payments in the PaymentVault (also after each batch); ``off`` stops claiming |
| ``EIGEN_DA_CLAIM_BATCH`` | ``32`` | accounts one claim pass takes |
| ``EIGEN_DA_GRPC_WORKERS`` | ``16`` | threads serving the gRPC calls of a DA network process (each process's ``grpc_port``) |
| ``EIGEN_AI_MODEL`` | unset | a GGUF file used instead of the installed SmolLM2 package |
| ``EIGEN_AI_THREADS`` | OpenMP default | CPU threads of the inference kernels (results never depend on it) |
| ``EIGEN_AI_KERNEL`` | ``auto`` | linear kernel: ``auto`` (the best this CPU has), ``portable``, ``avx2``, ``avx512vnni`` (same results) |
| ``EIGEN_AI_OPERATOR_KEY`` | unset | hex private key that signs inference receipts (else the public dev key) |
| ``EIGEN_AI_MAX_BATCH`` | ``16`` | sequences ``eigen ai serve`` decodes together (continuous batching) |
| ``EIGEN_AI_MAX_QUEUE`` | ``64`` | requests waiting for a batch slot; beyond, HTTP 429 with ``Retry-After`` |
| ``EIGEN_AI_REQUEST_TIMEOUT`` | ``600`` | seconds one generation may take; then it is dropped and answered 504 |
| ``EIGEN_AI_RECEIPTS_KEPT`` | ``4096`` | receipts the server keeps for ``GET /v1/receipts/{key}`` |
| ``EIGEN_A2A_PUSH_ALLOW_LOOPBACK`` | unset | ``1`` lets an A2A agent post push notifications to loopback webhooks (local tests; never in production) |
| ``EIGEN_ENCLAVE_KEY_FILE`` | ``/run/enclave/key`` | the trading agent program (``python -m offchain.agent.trading_app``): the file its enclave key is read from (32 raw bytes or 64 hex digits; the TEE binds it read-only) |
| ``EIGEN_A2A_STORE`` | ``.cache/agent/<name>.sqlite`` | an A2A agent's tasks, push configs and AP2 payment memory: a SQLite path (or ``sqlite:///PATH``) or a ``postgresql://…`` DSN, when the agent is given none |
| ``EIGEN_A2A_TLS_CERT`` | unset | ``eigen agent data-agent --tls-cert``: the agent's TLS certificate chain (PEM); set, the agent serves HTTPS |
| ``EIGEN_A2A_TLS_KEY`` | unset | ``--tls-key``: the private key (PEM) of ``EIGEN_A2A_TLS_CERT`` |
| ``EIGEN_A2A_CLIENT_CA`` | unset | ``--client-ca``: PEM CAs of the callers' client certificates (mutual TLS; needs the TLS certificate and ``EIGEN_A2A_CALLERS``) |
| ``EIGEN_A2A_REQUIRE_CLIENT_CERT`` | ``1`` | ``--[no-]require-client-cert``: ``0`` makes a client certificate optional in the handshake (callers by token, or anonymous) |
| ``EIGEN_A2A_CALLERS`` | unset | ``--callers``: a JSON file naming callers by certificate (``sha256:``, ``uri:``, ``dns:``, ``email:``, ``subject:`` -> caller) |
| ``EIGEN_A2A_REVOCATION`` | ``none`` | ``--revocation``: client certificates' revocation check, ``none``, ``crl``, ``ocsp`` or ``either`` (OCSP, falling back to the CRL) (docs/agent.md) |
| ``EIGEN_A2A_CRL_FILES`` | unset | ``--crl`` (repeated): CRL files (DER or PEM) used before the certificates' distribution points, separated by ``:`` (``os.pathsep``) |
| ``EIGEN_A2A_REVOCATION_SOFT_FAIL`` | unset | ``--[no-]revocation-soft-fail``: ``1`` lets a certificate through when its CRL or OCSP source cannot be reached (never on a bad or stale answer); unset: refused (fail closed) |
| ``EIGEN_A2A_CRL_GRACE`` | ``0`` | ``--crl-grace``: seconds a CRL is still taken past its nextUpdate |
| ``EIGEN_A2A_CRL_ISSUERS`` | unset | ``--crl-issuer`` (repeated): PEM files of the CRL issuers' certificates (indirect CRLs: a distribution point naming a cRLIssuer), separated by ``:`` (``os.pathsep``) |
| ``EIGEN_A2A_OCSP_GET`` | unset | ``--[no-]ocsp-get``: ``1`` sends OCSP requests by GET without a nonce (RFC 5019: cacheable, pre-produced answers); unset: POST with a nonce |
| ``EIGEN_STORE_WINDOW_MIB`` | ``64`` | MiB of large values (64 KiB or more) the store keeps mapped between reads, per table; ``0`` off |
| ``EIGEN_DEMO_AI_MODEL`` | unset | ``tiny`` makes the demo use the tiny seeded model |
| ``EIGEN_DEPLOYER`` | unset | keystore alias that deploys to a live network (``ape run deploy``) |
| ``EIGEN_DEPLOY_CONFIG`` | ``config/deploy.yaml`` | another deployment configuration file |
| ``EIGEN_PROFILE`` | ``ci`` | Hypothesis profile of the test suite (``long`` for deep fuzzing) |
| ``EIGEN_TEST_WORKERS`` | ``auto`` | test processes of ``make test`` (pytest-xdist): ``auto`` is the CPU count up to 4, ``0`` one process |
| ``EIGEN_SLOW`` | unset | ``1`` runs the slow tests too |
| ``EIGEN_NO_SHRINK`` | unset | set: the state-machine fuzzers skip shrinking (faster failing runs) |
| ``EIGEN_SHARED`` | ``../shared`` | where the tests find the shared vectors |
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from offchain.errors import SettingError

ROOT = Path(__file__).resolve().parent.parent  # the checkout (or the installed package's parent)
_OFF = ("0", "false", "no", "off")


@dataclass(frozen=True)
class Setting:
    """One environment setting: its variable name, its default (None: unset) and what it does."""

    name: str
    default: str | None
    doc: str

    def raw(self) -> str | None:
        """The variable's value, or the default when it is not set."""
        return os.environ.get(self.name, self.default)

    def is_set(self) -> bool:
        """Whether the variable is set to a non-empty value."""
        return bool(os.environ.get(self.name))


NATIVE = Setting("EIGEN_NATIVE", "1", "0/false/no/off disables the C kernels (array code, same results)")
NATIVE_DIR = Setting("EIGEN_NATIVE_DIR", None, "where compiled kernels are cached (default .cache/native)")
G1_NVRTC_OPTIONS = Setting("EIGEN_G1_NVRTC_OPTIONS", "", "extra nvrtc options for the GPU G1 kernel")
DA_SRS = Setting("EIGEN_DA_SRS", None, "directory with EigenDA's SRS files for `eigen da`")
DA_CACHE = Setting("EIGEN_DA_CACHE", None, "FK20 table cache (default .cache/da); off keeps tables in memory")
DA_METADATA_URL = Setting(
    "EIGEN_DA_METADATA_URL",
    None,
    "the DA disperser's metadata database URL, over the config files' (and its relays')",
)
DA_CLAIM_INTERVAL = Setting(
    "EIGEN_DA_CLAIM_INTERVAL", "30", "seconds between the DA disperser's on-demand payment claims; off: none"
)
DA_CLAIM_BATCH = Setting("EIGEN_DA_CLAIM_BATCH", "32", "accounts one claim pass of the DA disperser takes")
DA_GRPC_WORKERS = Setting("EIGEN_DA_GRPC_WORKERS", "16", "threads serving a DA network process's gRPC calls")
AI_MODEL = Setting("EIGEN_AI_MODEL", None, "a GGUF file used instead of the installed SmolLM2 package")
AI_THREADS = Setting("EIGEN_AI_THREADS", "", "CPU threads of the inference kernels (default: OpenMP's)")
AI_KERNEL = Setting(
    "EIGEN_AI_KERNEL", "auto", "linear kernel: auto, portable, avx2, avx512vnni (same results)"
)
AI_OPERATOR_KEY = Setting("EIGEN_AI_OPERATOR_KEY", None, "hex private key that signs inference receipts")
AI_MAX_BATCH = Setting("EIGEN_AI_MAX_BATCH", "16", "sequences the inference server decodes together")
AI_MAX_QUEUE = Setting("EIGEN_AI_MAX_QUEUE", "64", "requests waiting for a batch slot before 429")
AI_REQUEST_TIMEOUT = Setting("EIGEN_AI_REQUEST_TIMEOUT", "600", "seconds a generation may take (504 after)")
AI_RECEIPTS_KEPT = Setting("EIGEN_AI_RECEIPTS_KEPT", "4096", "receipts the server keeps for /v1/receipts")
A2A_PUSH_ALLOW_LOOPBACK = Setting(
    "EIGEN_A2A_PUSH_ALLOW_LOOPBACK", None, "1 lets an A2A agent post push notifications to loopback webhooks"
)
ENCLAVE_KEY_FILE = Setting(
    "EIGEN_ENCLAVE_KEY_FILE",
    "/run/enclave/key",
    "the trading agent program's enclave key file (32 raw bytes or 64 hex digits)",
)
A2A_STORE = Setting(
    "EIGEN_A2A_STORE",
    None,
    "an A2A agent's task and AP2 payment store: a SQLite path or postgresql DSN (default .cache/agent/<name>.sqlite)",
)
A2A_TLS_CERT = Setting("EIGEN_A2A_TLS_CERT", None, "an A2A agent's TLS certificate chain (PEM): serve HTTPS")
A2A_TLS_KEY = Setting("EIGEN_A2A_TLS_KEY", None, "the private key (PEM) of EIGEN_A2A_TLS_CERT")
A2A_CLIENT_CA = Setting(
    "EIGEN_A2A_CLIENT_CA", None, "PEM CAs of an A2A agent's callers' client certificates (mutual TLS)"
)
A2A_REQUIRE_CLIENT_CERT = Setting(
    "EIGEN_A2A_REQUIRE_CLIENT_CERT", "1", "0: a client certificate is optional in the TLS handshake"
)
A2A_CALLERS = Setting(
    "EIGEN_A2A_CALLERS", None, "JSON file: certificate (sha256:, uri:, dns:, email:, subject:) -> caller"
)
A2A_REVOCATION = Setting(
    "EIGEN_A2A_REVOCATION", "none", "client certificates' revocation: none, crl, ocsp, either"
)
A2A_CRL_FILES = Setting("EIGEN_A2A_CRL_FILES", None, "CRL files (DER or PEM), separated by os.pathsep")
A2A_REVOCATION_SOFT_FAIL = Setting(
    "EIGEN_A2A_REVOCATION_SOFT_FAIL",
    None,
    "1 lets a certificate through when its CRL/OCSP source is unreachable",
)
A2A_CRL_GRACE = Setting("EIGEN_A2A_CRL_GRACE", "0", "seconds a CRL is still taken past its nextUpdate")
A2A_CRL_ISSUERS = Setting(
    "EIGEN_A2A_CRL_ISSUERS", None, "PEM files of CRL issuers' certificates (indirect CRLs), os.pathsep"
)
A2A_OCSP_GET = Setting(
    "EIGEN_A2A_OCSP_GET", None, "1 sends OCSP requests by GET, without a nonce (cacheable)"
)
STORE_WINDOW_MIB = Setting(
    "EIGEN_STORE_WINDOW_MIB", "64", "MiB of large values a store table keeps mapped between reads (0: off)"
)
DEMO_AI_MODEL = Setting("EIGEN_DEMO_AI_MODEL", "", "tiny makes the demo use the tiny seeded model")
DEPLOYER = Setting("EIGEN_DEPLOYER", None, "keystore alias that deploys to a live network")
DEPLOY_CONFIG = Setting("EIGEN_DEPLOY_CONFIG", None, "another deployment configuration file")
PROFILE = Setting("EIGEN_PROFILE", "ci", "Hypothesis profile of the test suite (ci or long)")
TEST_WORKERS = Setting(
    "EIGEN_TEST_WORKERS", "auto", "test processes of make test (auto: CPUs up to 4; 0: one)"
)
SLOW = Setting("EIGEN_SLOW", None, "1 runs the slow tests too")
NO_SHRINK = Setting("EIGEN_NO_SHRINK", None, "1 skips Hypothesis shrinking in the state-machine fuzzers")
SHARED = Setting("EIGEN_SHARED", None, "where the tests find the shared vectors (default ../shared)")

ALL: tuple[Setting, ...] = (
    NATIVE,
    NATIVE_DIR,
    G1_NVRTC_OPTIONS,
    DA_SRS,
    DA_CACHE,
    DA_METADATA_URL,
    DA_CLAIM_INTERVAL,
    DA_CLAIM_BATCH,
    DA_GRPC_WORKERS,
    AI_MODEL,
    AI_THREADS,
    AI_KERNEL,
    AI_OPERATOR_KEY,
    AI_MAX_BATCH,
    AI_MAX_QUEUE,
    AI_REQUEST_TIMEOUT,
    AI_RECEIPTS_KEPT,
    A2A_PUSH_ALLOW_LOOPBACK,
    ENCLAVE_KEY_FILE,
    A2A_STORE,
    A2A_TLS_CERT,
    A2A_TLS_KEY,
    A2A_CLIENT_CA,
    A2A_REQUIRE_CLIENT_CERT,
    A2A_CALLERS,
    A2A_REVOCATION,
    A2A_CRL_FILES,
    A2A_REVOCATION_SOFT_FAIL,
    A2A_CRL_GRACE,
    A2A_CRL_ISSUERS,
    A2A_OCSP_GET,
    STORE_WINDOW_MIB,
    DEMO_AI_MODEL,
    DEPLOYER,
    DEPLOY_CONFIG,
    PROFILE,
    TEST_WORKERS,
    SLOW,
    NO_SHRINK,
    SHARED,
)


def native_enabled() -> bool:
    """Whether the C kernels may be used (``EIGEN_NATIVE`` not 0/false/no/off)."""
    return (NATIVE.raw() or "1").strip().lower() not in _OFF


def native_dir() -> Path:
    """Directory of the compiled-kernel cache."""
    value = NATIVE_DIR.raw()
    return Path(value) if value else ROOT / ".cache" / "native"


def g1_nvrtc_options() -> tuple[str, ...]:
    """Extra nvrtc options (space-separated) for the GPU G1 kernel."""
    return tuple((G1_NVRTC_OPTIONS.raw() or "").split())


def da_srs_dir() -> str | None:
    """The EigenDA SRS directory named by the environment, if any."""
    return DA_SRS.raw() or None


def da_metadata_url() -> str | None:
    """The disperser's metadata database URL named by the environment (a PostgreSQL DSN, or sqlite:///PATH),
    which the disperser's and the relays' configuration files' ``metadata`` / ``disperser_metadata`` yield to."""
    return DA_METADATA_URL.raw() or None


def da_table_cache() -> str | None:
    """Where FK20 tables are kept between runs, or None when the cache is off."""
    value = DA_CACHE.raw()
    if value is not None and value.strip().lower() in ("", "none", *_OFF):
        return None
    return value or str(ROOT / ".cache" / "da")


def da_claim_interval() -> float | None:
    """Seconds between the DA disperser's claim passes (:mod:`offchain.da.network.claims`); None when off."""
    value = (DA_CLAIM_INTERVAL.raw() or "").strip().lower()
    if value in _OFF:
        return None
    try:
        secs = float(value)
    except ValueError:
        raise SettingError(f"EIGEN_DA_CLAIM_INTERVAL must be seconds or off, got {value!r}") from None
    if not 0 < secs <= 86_400:
        raise SettingError(f"EIGEN_DA_CLAIM_INTERVAL must be in (0, 86400] seconds, got {value!r}")
    return secs


def da_claim_batch() -> int:
    """Accounts one claim pass of the DA disperser takes."""
    return _int_setting(DA_CLAIM_BATCH, 1)


def da_grpc_workers() -> int:
    """Threads serving the gRPC calls of a DA network process (its ``grpc_port``)."""
    return _int_setting(DA_GRPC_WORKERS, 1)


def ai_model_path() -> str | None:
    """The GGUF file named by ``EIGEN_AI_MODEL``, if any."""
    return AI_MODEL.raw() or None


def ai_threads() -> int:
    """Threads of the inference kernels; 0 means OpenMP's default."""
    value = (AI_THREADS.raw() or "").strip()
    try:
        return int(value) if value else 0
    except ValueError:
        raise SettingError(f"EIGEN_AI_THREADS must be an integer, got {value!r}") from None


def ai_kernel() -> str:
    """The linear kernel implementation the engine uses (``auto``: the best the CPU has)."""
    value = (AI_KERNEL.raw() or "auto").strip().lower() or "auto"
    if value not in ("auto", "portable", "avx2", "avx512vnni"):
        raise SettingError(f"EIGEN_AI_KERNEL must be auto, portable, avx2 or avx512vnni, got {value!r}")
    return value


def ai_operator_key() -> str | None:
    """The operator key hex named by the environment, if any."""
    value = AI_OPERATOR_KEY.raw()
    return value.strip() if value and value.strip() else None


def enclave_key_file() -> str:
    """Where the trading agent program reads its enclave key."""
    return ENCLAVE_KEY_FILE.raw() or str(ENCLAVE_KEY_FILE.default)


def _int_setting(setting: Setting, lo: int) -> int:
    value = (setting.raw() or "").strip()
    try:
        n = int(value)
    except ValueError:
        raise SettingError(f"{setting.name} must be an integer, got {value!r}") from None
    if n < lo:
        raise SettingError(f"{setting.name} must be >= {lo}, got {n}")
    return n


def ai_max_batch() -> int:
    """Sequences the inference server runs in one batch."""
    return _int_setting(AI_MAX_BATCH, 1)


def ai_max_queue() -> int:
    """Requests that may wait for a batch slot; beyond, the server answers 429."""
    return _int_setting(AI_MAX_QUEUE, 0)


def ai_request_timeout() -> float:
    """Seconds one generation may take before the server gives up on it (504)."""
    return float(_int_setting(AI_REQUEST_TIMEOUT, 1))


def ai_receipts_kept() -> int:
    """Receipts the inference server keeps for ``GET /v1/receipts/…``."""
    return _int_setting(AI_RECEIPTS_KEPT, 1)


def a2a_push_allow_loopback() -> bool:
    """Whether an A2A agent may post push notifications to a loopback address (``1``: yes)."""
    return _flag(A2A_PUSH_ALLOW_LOOPBACK)


def _flag(setting: Setting) -> bool:
    value = (setting.raw() or "").strip()
    if value not in ("", "0", "1"):
        raise SettingError(f"{setting.name} is 0, 1 or unset, got {value!r}")
    return value == "1"


def a2a_tls_files() -> tuple[str | None, str | None, str | None]:
    """An A2A agent's TLS certificate chain, its key and its callers' CAs (PEM files), if named."""
    return A2A_TLS_CERT.raw() or None, A2A_TLS_KEY.raw() or None, A2A_CLIENT_CA.raw() or None


def a2a_require_client_cert() -> bool:
    """Whether the TLS handshake requires a client certificate (with client CAs; ``0``: optional)."""
    return _flag(A2A_REQUIRE_CLIENT_CERT)


def a2a_callers() -> str | None:
    """The JSON file naming an A2A agent's callers by certificate, if any."""
    return A2A_CALLERS.raw() or None


REVOCATION_MODES = ("none", "crl", "ocsp", "either")  # (a2a_revocation.MODES)


def a2a_revocation() -> str:
    """How an A2A agent checks its callers' certificates for revocation."""
    value = (A2A_REVOCATION.raw() or "none").strip().lower()
    if value not in REVOCATION_MODES:
        raise SettingError(f"{A2A_REVOCATION.name} is one of {', '.join(REVOCATION_MODES)}, got {value!r}")
    return value


def a2a_crl_files() -> list[str]:
    """CRL files an A2A agent checks its callers' certificates against (before distribution points)."""
    return [p for p in (A2A_CRL_FILES.raw() or "").split(os.pathsep) if p]


def a2a_crl_issuers() -> list[str]:
    """PEM files of the CRL issuers' certificates an A2A agent takes indirect CRLs from."""
    return [p for p in (A2A_CRL_ISSUERS.raw() or "").split(os.pathsep) if p]


def a2a_ocsp_get() -> bool:
    """Whether OCSP requests go by GET, without a nonce (``1``)."""
    return _flag(A2A_OCSP_GET)


def a2a_revocation_soft_fail() -> bool:
    """Whether a certificate whose revocation source cannot be reached is let through (``1``)."""
    return _flag(A2A_REVOCATION_SOFT_FAIL)


def a2a_crl_grace() -> float:
    """Seconds a CRL is still taken past its nextUpdate (0 to 30 days)."""
    value = (A2A_CRL_GRACE.raw() or "0").strip()
    try:
        secs = float(value)
    except ValueError:
        raise SettingError(f"{A2A_CRL_GRACE.name} is a number of seconds, got {value!r}") from None
    if not 0 <= secs <= 30 * 86_400:
        raise SettingError(f"{A2A_CRL_GRACE.name} is 0 to 2592000 seconds, got {value!r}")
    return secs


def store_window_bytes() -> int:
    """Bytes of large values a store table keeps mapped between reads (its map window; 0: none)."""
    return _int_setting(STORE_WINDOW_MIB, 0) << 20


def demo_ai_model() -> str:
    """The demo's model choice (``tiny`` or empty)."""
    return (DEMO_AI_MODEL.raw() or "").strip().lower()


def deployer_alias() -> str | None:
    """The keystore alias that deploys to a live network, if any."""
    return DEPLOYER.raw() or None


def deploy_config_path() -> str | None:
    """Another deployment configuration file, if any."""
    return DEPLOY_CONFIG.raw() or None


def hypothesis_profile() -> str:
    """The Hypothesis profile the test suite loads."""
    return PROFILE.raw() or "ci"


def test_workers() -> int:
    """Test processes `make test` runs (pytest-xdist's ``-n``; 0 runs the suite in one process)."""
    if (TEST_WORKERS.raw() or "auto") == "auto":
        return min(len(os.sched_getaffinity(0)), 4)
    return _int_setting(TEST_WORKERS, 0)


def slow_tests() -> bool:
    """Whether the slow tests run."""
    return SLOW.raw() == "1"


def no_shrink() -> bool:
    """Whether the state-machine fuzzers skip shrinking."""
    return NO_SHRINK.is_set()


def shared_dir() -> Path:
    """Where the shared vectors live (``../shared`` beside the checkout by default)."""
    value = SHARED.raw()
    return Path(value) if value else ROOT.parent / "shared"
