"""Configuration files of the DA network processes (JSON, or YAML by suffix ``.yaml``/``.yml``).

A validator node's file::

    host: 127.0.0.1            # bind address (non-loopback needs public: true)
    port: 9100                 # 0 = any free port (the bound URL is logged)
    public: false
    bls_key_file: node.key     # 32-byte BLS secret key, hex (relative paths: to the config file)
    store_dir: data/           # offchain/store directory (or a list of directories)
    srs: {dir: srs/, g1_count: 4096}      # EigenDA SRS files; or {insecure_test_symbols: 64} (tests only)
    network: network.json      # or inline: the operators' stakes and the dispersers (below)
    stale_blocks: 300          # refuse reference blocks this far behind the newest accepted
    max_request_age_s: 60      # refuse StoreChunks requests whose timestamp is further from the clock
    max_request_bytes: 67108864
    log_level: info

The network description (shared by every node and the disperser until the on-chain registry is wired)::

    operators: [{operator_id: 0x<32 bytes>, stakes: {"0": 100, "1": 50}, url: http://...}, ...]
    dispersers: {"0": 0x<disperser's signing address>}
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from cryptography import x509
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from offchain import settings
from offchain.backend import canonical
from offchain.bls.errors import BLSError
from offchain.bls.keys import PublicKey
from offchain.da.errors import NetworkConfigError, SRSError
from offchain.da.network.assignment import BlobParams
from offchain.da.network.endpoints import DA_GRPC_DEFAULTS, da_grpc_problem
from offchain.da.network.metadata import POSTGRES_SCHEMES, is_postgres
from offchain.da.network.node import BLOCK_STALE_MEASURE, NodeState
from offchain.da.network.relay import RateLimits
from offchain.da.network.signing import BUCKET_S, MAX_RETENTION_S, MEMORY, RETENTION_S
from offchain.da.srs import SRS, insecure_test_srs, load_eigenda_srs
from offchain.errors import BackendError


def read_file(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as exc:
        raise NetworkConfigError(f"{p}: {exc.strerror or exc}") from exc
    try:
        obj = yaml.safe_load(text) if p.suffix in (".yaml", ".yml") else json.loads(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise NetworkConfigError(
            f"{p}: not valid {'YAML' if p.suffix in ('.yaml', '.yml') else 'JSON'}: {exc}"
        ) from exc
    if not isinstance(obj, dict):
        raise NetworkConfigError(f"{p}: expected a mapping at the top level")
    return obj


def _int(obj: dict, key: str, default: int | None, lo: int = 0, hi: int = 1 << 64) -> int:
    v = obj.get(key, default)
    if v is None:
        raise NetworkConfigError(f"{key}: required")
    if not isinstance(v, int) or isinstance(v, bool) or not lo <= v < hi:
        raise NetworkConfigError(f"{key}: {v!r} is not an integer in [{lo}, {hi})")
    return v


def grpc_port(obj: dict) -> int | None:
    """A process's ``grpc_port``: where its gRPC service listens beside HTTP (0: any free port), None (no
    gRPC server) when absent."""
    return None if obj.get("grpc_port") is None else _int(obj, "grpc_port", None, 0, 65536)


@dataclass(frozen=True)
class GrpcTLS:
    """A process's ``grpc_tls`` section (PEM files, relative to the configuration): with ``cert`` and ``key`` its
    gRPC port serves TLS only (``grpcs://``), and with ``client_ca`` too it requires each caller to present a
    certificate signed by one of those CAs (mutual TLS); ``ca`` is what the process trusts when it calls
    ``grpcs://`` URLs itself (the disperser's StoreChunks; default: the system's roots), presenting ``cert``
    when the server asks for one."""

    cert: bytes | None = None
    key: bytes | None = None
    client_ca: bytes | None = None
    ca: bytes | None = None


GRPC_TLS_KEYS = ("cert", "key", "client_ca", "ca")


def _pem(base: Path, obj: dict[str, Any], name: str) -> bytes | None:
    if obj.get(name) is None:
        return None
    path = base / str(obj[name])
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise NetworkConfigError(f"grpc_tls.{name}: {path}: {exc.strerror or exc}") from None
    try:
        if name == "key":
            load_pem_private_key(data, None)
        else:
            x509.load_pem_x509_certificates(data)
    except (ValueError, TypeError) as exc:
        what = "an unencrypted PEM private key" if name == "key" else "PEM certificates"
        raise NetworkConfigError(f"grpc_tls.{name}: {path} is not {what}: {exc}") from None
    return data


def grpc_tls(obj: Any, base: Path) -> GrpcTLS | None:
    """A process's ``grpc_tls`` (None when absent): each file read and parsed, the key the certificate's."""
    if obj is None:
        return None
    if not isinstance(obj, dict) or set(obj) - set(GRPC_TLS_KEYS):
        raise NetworkConfigError(f"grpc_tls: expected {{{', '.join(GRPC_TLS_KEYS)}}}, got {obj!r}")
    tls = GrpcTLS(**{k: _pem(base, obj, k) for k in GRPC_TLS_KEYS})
    if (tls.cert is None) != (tls.key is None):
        raise NetworkConfigError("grpc_tls: cert and key go together")
    if tls.client_ca is not None and tls.cert is None:
        raise NetworkConfigError("grpc_tls: client_ca needs the server's cert and key")
    if tls.cert is not None and tls.key is not None:
        leaf = x509.load_pem_x509_certificates(tls.cert)[0].public_key()
        if leaf != load_pem_private_key(tls.key, None).public_key():
            raise NetworkConfigError("grpc_tls: key is not the key of cert's (first) certificate")
    return tls


def _bytes32(text: Any, what: str) -> bytes:
    try:
        raw = bytes.fromhex(str(text).removeprefix("0x"))
    except ValueError:
        raise NetworkConfigError(f"{what}: not hex") from None
    if len(raw) != 32:
        raise NetworkConfigError(f"{what}: {len(raw)} bytes, expected 32")
    return raw


OPERATOR_KEYS = {"operator_id", "stakes", "url", "dispersal_url", "retrieval_url", "bls_public_key"}


def network_state(obj: Any, base: Path) -> tuple[NodeState, dict[bytes, str]]:
    """The operators' stakes per quorum, the dispersers' addresses, and the operators' URLs."""
    if isinstance(obj, str):
        p = base / obj
        obj, base = read_file(p), p.parent
    if not isinstance(obj, dict) or set(obj) - {"operators", "dispersers"}:
        raise NetworkConfigError("network: expected {operators, dispersers}")
    stakes: dict[int, dict[bytes, int]] = {}
    urls: dict[bytes, str] = {}
    for i, op in enumerate(obj.get("operators") or []):
        if not isinstance(op, dict) or set(op) - OPERATOR_KEYS or "operator_id" not in op:
            raise NetworkConfigError(
                f"network.operators[{i}]: expected {{operator_id, stakes, url, dispersal_url, retrieval_url, "
                "bls_public_key}}"
            )
        oid = _bytes32(op["operator_id"], f"network.operators[{i}].operator_id")
        if oid in urls:
            raise NetworkConfigError(f"network.operators[{i}]: operator {oid.hex()} listed twice")
        urls[oid] = str(op.get("url", ""))
        for q, s in (op.get("stakes") or {}).items():
            try:
                qn = int(q)
            except ValueError:
                raise NetworkConfigError(f"network.operators[{i}].stakes: quorum {q!r}") from None
            if not 0 <= qn < 256 or not isinstance(s, int) or isinstance(s, bool) or not 0 <= s < 1 << 96:
                raise NetworkConfigError(f"network.operators[{i}].stakes[{q}]: {s!r}")
            stakes.setdefault(qn, {})[oid] = s
    dispersers = {}
    for k, addr in (obj.get("dispersers") or {}).items():
        try:
            raw = bytes.fromhex(str(addr).removeprefix("0x"))
        except ValueError:
            raw = b""
        if len(raw) != 20 or not str(k).isdigit():
            raise NetworkConfigError(f"network.dispersers[{k}]: {addr!r} is not a 20-byte address")
        dispersers[int(k)] = "0x" + raw.hex()
    return NodeState(stakes, dispersers, BlobParams()), urls


def retrieval_urls(obj: Any, base: Path) -> dict[bytes, str]:
    """Where a client asks each operator for its chunks: its ``retrieval_url`` (its ``validator.Retrieval``
    gRPC service, ``grpc://host:port``; EigenDA's v2 retrieval port) when the network file gives one, else its
    ``url`` (HTTP)."""
    return _operator_urls(obj, base, "retrieval_url")


def dispersal_urls(obj: Any, base: Path) -> dict[bytes, str]:
    """Where the disperser sends each operator its ``StoreChunks``: its ``dispersal_url`` (its
    ``validator.Dispersal`` gRPC service, EigenDA's v2 dispersal port) when the network file gives one, else
    its ``url`` (HTTP)."""
    return _operator_urls(obj, base, "dispersal_url")


def _operator_urls(obj: Any, base: Path, key: str) -> dict[bytes, str]:
    """Each operator's ``key`` URL (``grpc://``, ``grpcs://`` (TLS) or ``http(s)://``), else its ``url``."""
    _, urls = network_state(obj, base)
    if isinstance(obj, str):
        obj = read_file(base / obj)
    for i, op in enumerate(obj.get("operators") or []):
        r = op.get(key)
        if r is None:
            continue
        if not isinstance(r, str) or not r.startswith(("grpc://", "grpcs://", "http://", "https://")):
            raise NetworkConfigError(
                f"network.operators[{i}].{key}: {r!r} is not a grpc(s):// or http(s):// URL"
            )
        urls[_bytes32(op["operator_id"], f"network.operators[{i}].operator_id")] = r
    return urls


def load_srs(spec: Any, base: Path) -> SRS:
    if not isinstance(spec, dict):
        raise NetworkConfigError("srs: expected {dir, g1_count} or {insecure_test_symbols}")
    try:
        if "insecure_test_symbols" in spec:
            return insecure_test_srs(_int(spec, "insecure_test_symbols", None, 1, 1 << 20))
        if "dir" not in spec:
            raise NetworkConfigError("srs: expected {dir, g1_count} or {insecure_test_symbols}")
        return load_eigenda_srs(base / str(spec["dir"]), spec.get("g1_count"))
    except SRSError as exc:
        raise NetworkConfigError(f"srs: {exc}") from exc


@dataclass
class NodeConfig:
    host: str
    port: int
    public: bool
    bls_key: bytes
    store_dirs: list[str]
    srs: Any
    state: NodeState
    stale_blocks: int
    max_request_age_s: int
    max_request_bytes: int
    log_level: str
    payments: PaymentsConfig | None = None
    operators: OperatorsConfig | None = None
    grpc_port: int | None = None  # validator.Dispersal and .Retrieval over gRPC (rpc.py); None: none
    grpc_tls: GrpcTLS | None = None  # TLS on the gRPC port (None: plaintext)


NODE_KEYS = {
    "host", "port", "grpc_port", "grpc_tls", "public", "bls_key_file", "store_dir", "srs", "network", "stale_blocks",
    "max_request_age_s", "max_request_bytes", "log_level", "payments", "operators",
}  # fmt: skip


def _config_file(
    path: str | Path, allowed: set[str], required: tuple[str, ...], key_file: str
) -> tuple[dict[str, Any], Path, bytes]:
    """A process's configuration: its mapping, its folder, and the secret key file's 32 bytes."""
    p = Path(path)
    obj, base = read_file(p), p.parent
    unknown = sorted(set(obj) - allowed)
    if unknown:
        raise NetworkConfigError(f"{p}: unknown keys {unknown}")
    for key in required:
        if key not in obj:
            raise NetworkConfigError(f"{p}: {key} is required")
    try:
        key_text = (base / str(obj[key_file])).read_text().strip()
    except OSError as exc:
        raise NetworkConfigError(f"{key_file}: {exc.strerror or exc}") from exc
    return obj, base, _bytes32(key_text, key_file)


def node_config(path: str | Path) -> NodeConfig:
    obj, base, key = _config_file(
        path, NODE_KEYS, ("bls_key_file", "store_dir", "srs", "network"), "bls_key_file"
    )
    dirs = obj["store_dir"] if isinstance(obj["store_dir"], list) else [obj["store_dir"]]
    state, _ = network_state(obj["network"], base)
    return NodeConfig(
        host=str(obj.get("host", "127.0.0.1")),
        port=_int(obj, "port", 0, 0, 65536),
        grpc_port=grpc_port(obj),
        grpc_tls=grpc_tls(obj.get("grpc_tls"), base),
        public=bool(obj.get("public", False)),
        bls_key=key,
        store_dirs=[str(base / str(d)) for d in dirs],
        srs=load_srs(obj["srs"], base),
        state=state,
        stale_blocks=_int(obj, "stale_blocks", BLOCK_STALE_MEASURE),
        max_request_age_s=_int(obj, "max_request_age_s", 60, 1),
        max_request_bytes=_int(obj, "max_request_bytes", 64 << 20, 1024),
        log_level=str(obj.get("log_level", "info")),
        payments=payments_config(obj.get("payments")),
        operators=operators_config(obj.get("operators")),
    )


def network_public_keys(obj: Any, base: Path) -> dict[bytes, PublicKey]:
    """The operators' BLS public keys (``bls_public_key``: {g1, g2} as ``PublicKey.to_json``), each
    checked against its operator id; required for every operator (the disperser aggregates with them)."""
    if isinstance(obj, str):
        obj = read_file(base / obj)
    keys: dict[bytes, PublicKey] = {}
    for i, op in enumerate(obj.get("operators") or []):
        oid = _bytes32(op["operator_id"], f"network.operators[{i}].operator_id")
        if "bls_public_key" not in op:
            raise NetworkConfigError(f"network.operators[{i}].bls_public_key: required by the disperser")
        try:
            pk = PublicKey.from_json(op["bls_public_key"])
        except BLSError as exc:
            raise NetworkConfigError(f"network.operators[{i}].bls_public_key: {exc}") from exc
        if pk.operator_id != oid:
            raise NetworkConfigError(f"network.operators[{i}].bls_public_key: not operator {oid.hex()}'s key")
        keys[oid] = pk
    return keys


def metadata_url(obj: dict[str, Any], key: str, base: Path, path: str | Path) -> str:
    """The disperser's metadata database: ``EIGEN_DA_METADATA_URL`` when set, else the file's ``key`` (a URL,
    or a SQLite path relative to the file)."""
    meta = settings.da_metadata_url() or obj.get(key)
    if meta is None:
        raise NetworkConfigError(f"{path}: {key} is required (or set {settings.DA_METADATA_URL.name})")
    meta = str(meta)
    return meta if "://" in meta else str(base / meta)


def record_grpc(rec: Any, where: str | Path, error: type[Exception] = NetworkConfigError) -> dict[str, Any]:
    """Where the DA network of an ``ape run deploy --components da`` record serves gRPC: its ``da.grpc``
    ({host, disperser_port, node_port}; validator i at ``node_port + i``), checked; the defaults
    (``offchain.da.network.endpoints.DA_GRPC_DEFAULTS``) for a record written before it carried them. ``error`` (typed)
    names ``where``."""
    if not isinstance(rec, dict) or not isinstance(rec.get("da"), dict):
        raise error(f"{where}: no deployment record with a da section (ape run deploy --components da)")
    grpc = rec["da"].get("grpc", dict(DA_GRPC_DEFAULTS))
    if problem := da_grpc_problem(grpc):
        raise error(f"{where}: da.grpc: {problem}")
    return dict(grpc)


def deployment_disperser(path: str | Path) -> str:
    """The disperser's gRPC URL (``grpc://host:disperser_port``) of a deployment record's ``da.grpc``."""
    try:
        rec = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise NetworkConfigError(f"deployment record {path} is unreadable: {exc}") from None
    g = record_grpc(rec, path)
    host = f"[{g['host']}]" if ":" in g["host"] and not g["host"].startswith("[") else g["host"]
    return f"grpc://{host}:{g['disperser_port']}"


def chain_contract(obj: dict[str, Any], section: str, key: str) -> str:
    """A section's contract address ``obj[key]`` (0x, 20 bytes), its ``rpc`` checked to be an http(s) URL."""
    address = str(obj[key])
    try:
        raw = bytes.fromhex(address.removeprefix("0x"))
    except ValueError:
        raw = b""
    if not address.startswith("0x") or len(raw) != 20:
        raise NetworkConfigError(f"{section}.{key}: {address!r} is not a 20-byte 0x address")
    if not str(obj["rpc"]).startswith(("http://", "https://")):
        raise NetworkConfigError(f"{section}.rpc: {obj['rpc']!r} is not an http(s) URL")
    return address


@dataclass
class OperatorsConfig:
    """The ``operators`` section: the operators' stakes and keys from the BLSRegistry at each batch's reference
    block instead of the network file's (:class:`offchain.da.network.operators.RegistryOperators`)."""

    rpc: str
    registry: str
    quorums: dict[int, tuple[int, int]]  # DA quorum -> (operator set id, stake index in the set)
    reference_block_offset: int


OPERATORS_KEYS = {"rpc", "registry", "quorums", "reference_block_offset"}


def operators_config(obj: Any) -> OperatorsConfig | None:
    if obj is None:
        return None
    if (
        not isinstance(obj, dict)
        or set(obj) - OPERATORS_KEYS
        or not {"rpc", "registry", "quorums"} <= set(obj)
    ):
        raise NetworkConfigError(
            f"operators: expected {{rpc, registry, quorums, reference_block_offset?}}, got {obj!r}"
        )
    registry = chain_contract(obj, "operators", "registry")
    quorums: dict[int, tuple[int, int]] = {}
    if not isinstance(obj["quorums"], dict) or not obj["quorums"]:
        raise NetworkConfigError("operators.quorums: expected {quorum: {operator_set, stake_index?}, ...}")
    for q, spec in obj["quorums"].items():
        what = f"operators.quorums[{q}]"
        if not str(q).isdigit() or not 0 <= int(q) < 256:
            raise NetworkConfigError(f"{what}: the quorum is not a number in [0, 256)")
        if (
            not isinstance(spec, dict)
            or set(spec) - {"operator_set", "stake_index"}
            or "operator_set" not in spec
        ):
            raise NetworkConfigError(f"{what}: expected {{operator_set, stake_index?}}, got {spec!r}")
        try:
            quorums[int(q)] = (
                _int(spec, "operator_set", None, 0, 1 << 32),
                _int(spec, "stake_index", 0, 0, 8),
            )
        except NetworkConfigError as exc:
            raise NetworkConfigError(f"{what}.{exc}") from None
    offset = _int(obj, "reference_block_offset", 75, 0, 1 << 32)
    return OperatorsConfig(str(obj["rpc"]), registry, quorums, offset)


@dataclass
class PaymentsConfig:
    """The disperser's ``payments`` section: the PaymentVault it meters against."""

    rpc: str
    vault: str
    refresh_s: float
    max_dispersal_age_s: float
    max_future_dispersal_s: float


PAYMENTS_KEYS = {"rpc", "vault", "refresh_s", "max_dispersal_age_s", "max_future_dispersal_s"}


def payments_config(obj: Any) -> PaymentsConfig | None:
    if obj is None:
        return None
    if not isinstance(obj, dict) or set(obj) - PAYMENTS_KEYS or not {"rpc", "vault"} <= set(obj):
        raise NetworkConfigError(f"payments: expected {{rpc, vault, refresh_s?, max_dispersal_age_s?, "
                                 f"max_future_dispersal_s?}}, got {obj!r}")  # fmt: skip
    vault = chain_contract(obj, "payments", "vault")
    secs = {}
    for k, default in (("refresh_s", 30), ("max_dispersal_age_s", 45), ("max_future_dispersal_s", 45)):
        v = obj.get(k, default)
        if not isinstance(v, int | float) or isinstance(v, bool) or not 0 < v <= 86_400:
            raise NetworkConfigError(f"payments.{k}: {v!r} is not a number of seconds in (0, 86400]")
        secs[k] = float(v)
    return PaymentsConfig(str(obj["rpc"]), vault, **secs)


@dataclass
class DisperserConfig:
    host: str
    port: int
    public: bool
    key: bytes
    disperser_id: int
    srs: Any
    state: NodeState
    urls: dict[bytes, str]
    public_keys: dict[bytes, PublicKey]
    metadata: str
    confirmation_threshold: int
    reference_block_number: int
    batch_size: int
    max_request_bytes: int
    log_level: str
    payments: PaymentsConfig | None = None
    operators: OperatorsConfig | None = None
    batches_in_flight: int = 1
    backend: str = "cpu"  # the encoder's array backend: cpu (numpy) or gpu (cupy)
    grpc_port: int | None = None  # disperser.v2.Disperser over gRPC (rpc.py); None: HTTP only
    grpc_tls: GrpcTLS | None = None  # TLS on the gRPC port, and the trust of its grpcs:// StoreChunks
    chain_id: int | None = None  # the chain anchor signatures name (None: anchors refused, rpc.py)
    require_anchor_signature: bool = False  # EigenDA's TolerateMissingAnchorSignature (default true) negated
    signing_rates: str = MEMORY  # GetValidatorSigningRate's record (signing.py): SQLite path/URL or a DSN
    signing_rate_retention_s: int = RETENTION_S  # how long its buckets are kept


DISPERSER_KEYS = {
    "host", "port", "grpc_port", "grpc_tls", "public", "key_file", "disperser_id", "srs", "network", "metadata", "confirmation_threshold",
    "reference_block_number", "batch_size", "max_request_bytes", "log_level", "payments", "operators",
    "batches_in_flight", "backend", "chain_id", "require_anchor_signature", "signing_rates",
    "signing_rate_retention_s",
}  # fmt: skip


def signing_rates_url(obj: dict[str, Any], base: Path, metadata: str) -> str:
    """The disperser's signing-rate database: the file's ``signing_rates`` (a SQLite path relative to the file,
    ``sqlite:///PATH``, ``:memory:`` or a ``postgresql://…`` DSN), else ``signing_rates.db`` beside a SQLite
    metadata database, or the metadata's PostgreSQL database itself."""
    url = obj.get("signing_rates")
    if url is not None:
        if (
            not isinstance(url, str)
            or not url
            or ("://" in url and not url.startswith(("sqlite:///", *POSTGRES_SCHEMES)))
        ):
            raise NetworkConfigError(
                f"signing_rates: {url!r} is not a SQLite path, sqlite:///PATH, :memory: or postgresql://… DSN"
            )
        return url if "://" in url or url == MEMORY else str(base / url)
    if is_postgres(metadata):
        return metadata
    path = metadata.removeprefix("sqlite:///")
    return path if path == MEMORY else str(Path(path).parent / "signing_rates.db")


def _flag(obj: dict[str, Any], key: str, default: bool) -> bool:
    v = obj.get(key, default)
    if not isinstance(v, bool):
        raise NetworkConfigError(f"{key}: {v!r} is not true or false")
    return v


def _backend(obj: dict[str, Any]) -> str:
    """The disperser's ``backend`` (``cpu`` by default, or ``gpu``): checked here, its device when the encoder
    is built."""
    try:
        return canonical(obj.get("backend", "cpu"))
    except BackendError as exc:
        raise NetworkConfigError(f"backend: {exc}") from None


def disperser_config(path: str | Path) -> DisperserConfig:
    obj, base, key = _config_file(path, DISPERSER_KEYS, ("key_file", "srs", "network"), "key_file")
    if obj.get("require_anchor_signature") is True and obj.get("chain_id") is None:
        raise NetworkConfigError(
            "require_anchor_signature: needs chain_id (the chain anchor signatures name)"
        )
    state, _ = network_state(obj["network"], base)
    urls = dispersal_urls(obj["network"], base)
    meta = metadata_url(obj, "metadata", base, path)
    operators = operators_config(obj.get("operators"))
    return DisperserConfig(
        host=str(obj.get("host", "127.0.0.1")),
        port=_int(obj, "port", 0, 0, 65536),
        grpc_port=grpc_port(obj),
        grpc_tls=grpc_tls(obj.get("grpc_tls"), base),
        public=bool(obj.get("public", False)),
        key=key,
        disperser_id=_int(obj, "disperser_id", 0, 0, 1 << 32),
        chain_id=None if obj.get("chain_id") is None else _int(obj, "chain_id", None, 1, 1 << 256),
        require_anchor_signature=_flag(obj, "require_anchor_signature", False),
        srs=load_srs(obj["srs"], base),
        state=state,
        urls=urls,
        # with an operators section the keys are the registry's; the file gives the validators' URLs
        public_keys=network_public_keys(obj["network"], base) if operators is None else {},
        metadata=meta,
        confirmation_threshold=_int(obj, "confirmation_threshold", 55, 1, 101),
        reference_block_number=_int(obj, "reference_block_number", 0, 0, 1 << 32),
        batch_size=_int(obj, "batch_size", 32, 1, 4097),
        batches_in_flight=_int(obj, "batches_in_flight", 1, 1, 65),
        backend=_backend(obj),
        max_request_bytes=_int(obj, "max_request_bytes", 64 << 20, 1024),
        log_level=str(obj.get("log_level", "info")),
        payments=payments_config(obj.get("payments")),
        operators=operators,
        signing_rates=signing_rates_url(obj, base, meta),
        signing_rate_retention_s=_int(
            obj, "signing_rate_retention_s", RETENTION_S, BUCKET_S, MAX_RETENTION_S + 1
        ),
    )


@dataclass
class RelayConfig:
    host: str
    port: int
    public: bool
    store_dirs: list[str]
    srs: Any
    public_keys: dict[bytes, PublicKey]
    source: str
    max_request_age_s: int
    max_request_bytes: int
    log_level: str
    rate_limits: RateLimits = RateLimits()
    grpc_port: int | None = None  # relay.Relay over gRPC (rpc.py); None: HTTP only
    grpc_tls: GrpcTLS | None = None  # TLS on the gRPC port (None: plaintext)


RELAY_KEYS = {
    "host", "port", "grpc_port", "grpc_tls", "public", "store_dir", "srs", "network", "disperser_metadata", "max_request_age_s",
    "max_request_bytes", "log_level", "rate_limits",
}  # fmt: skip


def rate_limits_config(obj: Any) -> RateLimits:
    """The relay's ``rate_limits``: bytes per second {get_chunks_bytes_per_s, get_chunks_burst_s,
    get_blob_bytes_per_s, get_blob_burst_s}, requests per second {get_blob_ops_per_s, get_blob_ops_burst,
    get_chunks_ops_per_s, get_chunks_ops_burst, get_chunks_ops_per_s_operator, get_chunks_ops_burst_operator} and
    requests in progress {max_concurrent_get_blob, max_concurrent_get_chunks} (rates and maxima 0 or absent:
    unlimited)."""
    if obj is None:
        return RateLimits()
    names = set(RateLimits.__dataclass_fields__)
    if not isinstance(obj, dict) or set(obj) - names:
        raise NetworkConfigError(f"rate_limits: expected keys among {sorted(names)}, got {obj!r}")
    for k, v in obj.items():
        if k.endswith("_burst_s"):
            ok, what = isinstance(v, int | float) and 0 < v <= 3600, "a number of seconds in (0, 3600]"
        elif "_ops_burst" in k:
            ok, what = isinstance(v, int) and 1 <= v <= 1_000_000, "a whole number of requests in [1, 10^6]"
        elif k.startswith("max_concurrent_"):
            ok, what = isinstance(v, int) and 0 <= v <= 1_000_000, "a whole number of requests in [0, 10^6]"
        else:
            ok, what = isinstance(v, int | float) and 0 <= v < 1e12, "a rate ≥ 0"
        if isinstance(v, bool) or not ok:
            raise NetworkConfigError(f"rate_limits.{k}: {v!r} is not {what}")
    return RateLimits(**{k: float(v) for k, v in obj.items()})


def relay_config(path: str | Path) -> RelayConfig:
    """A relay's file: its store, the SRS, the network (the requesters' BLS keys) and the disperser's
    metadata database it copies certified blobs from."""
    p = Path(path)
    obj, base = read_file(p), p.parent
    unknown = sorted(set(obj) - RELAY_KEYS)
    if unknown:
        raise NetworkConfigError(f"{p}: unknown keys {unknown}")
    for key in ("store_dir", "srs", "network"):
        if key not in obj:
            raise NetworkConfigError(f"{p}: {key} is required")
    dirs = obj["store_dir"] if isinstance(obj["store_dir"], list) else [obj["store_dir"]]
    meta = metadata_url(obj, "disperser_metadata", base, p)
    return RelayConfig(
        host=str(obj.get("host", "127.0.0.1")),
        port=_int(obj, "port", 0, 0, 65536),
        grpc_port=grpc_port(obj),
        grpc_tls=grpc_tls(obj.get("grpc_tls"), base),
        public=bool(obj.get("public", False)),
        store_dirs=[str(base / str(d)) for d in dirs],
        srs=load_srs(obj["srs"], base),
        public_keys=network_public_keys(obj["network"], base),
        source=meta,
        max_request_age_s=_int(obj, "max_request_age_s", 60, 1),
        max_request_bytes=_int(obj, "max_request_bytes", 1 << 20, 1024),
        log_level=str(obj.get("log_level", "info")),
        rate_limits=rate_limits_config(obj.get("rate_limits")),
    )
