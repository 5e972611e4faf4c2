"""OpenID4VP 1.0 presentations of SD-JWT VCs with ``transaction_data``, and AP2 v0.2's delegation
through them.

**Request** (:class:`Request`, the verifier's): ``client_id``, ``nonce``, ``response_type:
vp_token``, a DCQL query (``credentials``: ``{id, format: dc+sd-jwt, meta.vct_values, claims:
[{path}]}``) and ``transaction_data``: base64url-encoded JSON objects, each with a ``type``,
``credential_ids`` (the DCQL ids of the credentials that may authorize it) and, optionally,
``transaction_data_hashes_alg`` (the hash algorithms allowed; ``sha-256`` when absent).

**Types** known here (any other is OpenID4VP's ``invalid_transaction_data``, as are unknown fields):
AP2's ``delegate`` (``format: dc+sd-jwt``, ``delegate_payload``: the mandate contents, with their
selectively disclosable parts as digests, ``delegate_disclosures``: those parts' disclosures) and
AP2's ``payment_card`` (what the wallet shows: ``merchant_name``, ``amount``, ``additional_info``).

**Response** (:func:`respond`, the wallet's): ``vp_token`` ``{credential query id:
[presentation]}``; each presentation reveals the claims its query names and is key-bound to
``aud`` = the ``client_id`` and the ``nonce``; its key binding carries ``transaction_data_hashes``
(the base64url SHA-256 of each transaction data string bound, as received, not decoded) and
``transaction_data_hashes_alg``. For a ``delegate`` object the key binding is a KB-SD-JWT (Delegate
SD-JWT) whose ``delegate_payload`` elements are the requested payloads (``kb+sd-jwt+kb`` when
every one binds a key, ``cnf``: open mandates; else ``kb+sd-jwt``: closed ones), with the
requested disclosures beside them; the credential may itself be a chain (an agent closing, for a
merchant, the open mandate delegated to it).

**Verification** (:func:`verify_response`, the verifier's): every query answered by one
presentation, its issuer's signature and validity, ``aud``, ``nonce``, ``iat``, ``sd_hash``; every
transaction data object bound by exactly one presentation of a credential it names, with an allowed
algorithm; no hash of anything not requested; a ``delegate`` object's payloads and disclosures
exactly those of the key-binding link; optionally the credential's status (status_list).
:func:`split` then gives one AP2 mandate chain per delegated payload, for ap2.check_checkout and
ap2.check_payment, or for ap2.close.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from offchain.agent import sdjwt
from offchain.agent.errors import SdJwtError, TransactionDataError, TransactionDataHashError

FORMAT = "dc+sd-jwt"
HASH_ALG = "sha-256"  # the one algorithm this implementation computes (OpenID4VP's mandatory one)
DELEGATE = "delegate"
PAYMENT_CARD = "payment_card"
MAX_TRANSACTION_DATA = 8
MAX_CHARS = 32 * 1024  # one transaction data string
COMMON = frozenset({"type", "credential_ids", "transaction_data_hashes_alg"})
FIELDS = {
    DELEGATE: frozenset({"format", "delegate_payload", "delegate_disclosures"}),
    PAYMENT_CARD: frozenset({"merchant_name", "amount", "additional_info"}),
}


def encode(obj: Mapping[str, Any]) -> str:
    """A transaction data string: base64url of the object's JSON."""
    return sdjwt.b64url(json.dumps(dict(obj), separators=(",", ":"), ensure_ascii=False).encode())


def data_hash(text: str) -> str:
    """``transaction_data_hashes`` element: base64url SHA-256 of the string as sent."""
    return sdjwt.digest(text)


def _strs(v: Any, what: str, empty: bool = False) -> list[str]:
    if not isinstance(v, list) or not (v or empty) or not all(isinstance(x, str) and x for x in v):
        raise TransactionDataError(f"{what} must be a non-empty list of non-empty strings")
    return v


def decode(text: Any) -> dict[str, Any]:
    """A transaction data object, checked: a known ``type``, ``credential_ids``, the type's fields
    and no other (TransactionDataError, OpenID4VP's ``invalid_transaction_data``)."""
    if not isinstance(text, str) or not 0 < len(text) <= MAX_CHARS:
        raise TransactionDataError(f"a transaction data entry is a string of 1 to {MAX_CHARS} characters")
    try:
        obj = json.loads(sdjwt.unb64url(text, "transaction data"))
    except (SdJwtError, ValueError, RecursionError):
        raise TransactionDataError("a transaction data entry is not base64url-encoded JSON") from None
    if not isinstance(obj, dict):
        raise TransactionDataError("a transaction data entry is a JSON object")
    t = obj.get("type")
    if t not in FIELDS:
        raise TransactionDataError(f"unknown transaction data type {str(t)[:64]!r}")
    unknown = set(obj) - COMMON - FIELDS[t]
    if unknown:
        raise TransactionDataError(f"{t} transaction data has unknown fields {sorted(unknown)[:4]}")
    _strs(obj.get("credential_ids"), "credential_ids")
    if "transaction_data_hashes_alg" in obj:
        _strs(obj["transaction_data_hashes_alg"], "transaction_data_hashes_alg")
    if t == DELEGATE:
        if obj.get("format") != FORMAT:
            raise TransactionDataError(f"a delegate's format must be {FORMAT}, not {obj.get('format')!r}")
        payloads = obj.get("delegate_payload")
        if not isinstance(payloads, list) or not payloads or not all(isinstance(p, dict) for p in payloads):
            raise TransactionDataError("delegate_payload must be a non-empty list of objects")
        if "delegate_disclosures" in obj:
            _strs(obj["delegate_disclosures"], "delegate_disclosures", empty=True)
        try:
            sdjwt.resolve(payloads, obj.get("delegate_disclosures", []), "delegate payload")
        except SdJwtError as exc:
            raise TransactionDataError(f"the delegate's disclosures do not fit its payload: {exc}") from None
    else:
        for f in ("merchant_name", "amount"):
            if not isinstance(obj.get(f), str):
                raise TransactionDataError(f"a payment_card's {f} must be a string")
        if not isinstance(obj.get("additional_info", ""), str):
            raise TransactionDataError("a payment_card's additional_info must be a string")
    return obj


def delegate_data(
    payloads: Iterable[Any], credential_ids: Iterable[str], algs: Iterable[str] = (HASH_ALG,)
) -> str:
    """AP2's ``delegate`` transaction data for mandate contents `payloads` (sdjwt.Sd values in them
    become digests, their disclosures ``delegate_disclosures``)."""
    concealed, disclosures = [], []
    for p in payloads:
        c, ds = sdjwt.conceal(p)
        concealed.append(c)
        disclosures += [d.encoded for d in ds]
    obj: dict[str, Any] = {
        "type": DELEGATE,
        "format": FORMAT,
        "credential_ids": list(credential_ids),
        "transaction_data_hashes_alg": list(algs),
        "delegate_payload": concealed,
    }
    return encode(obj | ({"delegate_disclosures": disclosures} if disclosures else {}))


def payment_card_data(
    credential_ids: Iterable[str], merchant_name: str, amount: str, additional_info: str | None = None
) -> str:
    """AP2's ``payment_card`` transaction data: what the wallet shows the user to confirm."""
    obj = {
        "type": PAYMENT_CARD,
        "credential_ids": list(credential_ids),
        "transaction_data_hashes_alg": [HASH_ALG],
        "merchant_name": merchant_name,
        "amount": amount,
    }
    return encode(obj | ({} if additional_info is None else {"additional_info": additional_info}))


def credential_query(
    id_: str, vct_values: Iterable[str] | None = None, claims: Iterable[str] = ()
) -> dict[str, Any]:
    """A DCQL credential query for an SD-JWT VC (top-level claims by name)."""
    q: dict[str, Any] = {"id": id_, "format": FORMAT}
    if vct_values is not None:
        q["meta"] = {"vct_values": list(vct_values)}
    names = list(claims)
    return q | ({"claims": [{"path": [n]} for n in names]} if names else {})


@dataclass(frozen=True)
class Request:
    """An OpenID4VP Authorization Request (the parameters this implementation uses)."""

    client_id: str
    nonce: str
    credentials: tuple[dict[str, Any], ...]
    transaction_data: tuple[str, ...] = ()
    response_mode: str = "direct_post"

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "response_type": "vp_token",
            "response_mode": self.response_mode,
            "client_id": self.client_id,
            "nonce": self.nonce,
            "dcql_query": {"credentials": [dict(c) for c in self.credentials]},
        }
        return d | ({"transaction_data": list(self.transaction_data)} if self.transaction_data else {})

    @classmethod
    def from_dict(cls, d: Any) -> Request:
        """The request, checked (TransactionDataError naming what is wrong)."""
        if not isinstance(d, dict) or d.get("response_type") != "vp_token":
            raise TransactionDataError("an OpenID4VP request is an object with response_type vp_token")
        for f in ("client_id", "nonce"):
            if not isinstance(d.get(f), str) or not d[f]:
                raise TransactionDataError(f"the request's {f} must be a non-empty string")
        q = d.get("dcql_query")
        creds = q.get("credentials") if isinstance(q, dict) else None
        if not isinstance(creds, list) or not creds:
            raise TransactionDataError("the request's dcql_query has a non-empty credentials list")
        ids = []
        for c in creds:
            if not isinstance(c, dict) or not isinstance(c.get("id"), str) or c.get("format") != FORMAT:
                raise TransactionDataError(f"each credential query has an id and format {FORMAT}")
            ids.append(c["id"])
        if len(set(ids)) != len(ids):
            raise TransactionDataError("two credential queries share an id")
        td = d.get("transaction_data", [])
        if "transaction_data" in d and (not isinstance(td, list) or not td):
            raise TransactionDataError("transaction_data, when present, is a non-empty list")
        if len(td) > MAX_TRANSACTION_DATA:
            raise TransactionDataError(f"at most {MAX_TRANSACTION_DATA} transaction data entries")
        req = cls(
            d["client_id"], d["nonce"], tuple(creds), tuple(td), str(d.get("response_mode") or "direct_post")
        )
        req.decoded()
        return req

    def decoded(self) -> list[dict[str, Any]]:
        """The transaction data objects, each checked and naming only queried credentials."""
        ids = {c["id"] for c in self.credentials}
        out = []
        for text in self.transaction_data:
            obj = decode(text)
            if not set(obj["credential_ids"]) <= ids:
                raise TransactionDataError("transaction data names a credential the request does not query")
            if HASH_ALG not in obj.get("transaction_data_hashes_alg", [HASH_ALG]):
                raise TransactionDataError(
                    f"transaction data allows no hash algorithm known here ({HASH_ALG})"
                )
            out.append(obj)
        return out


def request(
    client_id: str, nonce: str, credentials: Iterable[dict[str, Any]], transaction_data: Iterable[str] = ()
) -> Request:
    """The verifier's request (checked as a wallet would check it)."""
    return Request.from_dict(Request(client_id, nonce, tuple(credentials), tuple(transaction_data)).to_dict())


# ---------------------------------------------------------------- the wallet


def respond(
    req: Request | dict[str, Any],
    credentials: Mapping[str, tuple[str, sdjwt.PrivateKey]],
    *,
    iat: int,
) -> dict[str, list[str]]:
    """The wallet's ``vp_token``: for each credential query, the credential held for it
    (`credentials`: query id -> (issued SD-JWT or mandate chain, holder key)) presented with the
    claims the query names, key-bound to the request's ``client_id`` and ``nonce``, binding the
    transaction data it is the first named credential of (a ``delegate`` one as a Delegate
    SD-JWT link). TransactionDataError for a request it cannot answer."""
    r = req if isinstance(req, Request) else Request.from_dict(req)
    objs = r.decoded()
    held = {c["id"] for c in r.credentials if c["id"] in credentials}
    signer = []  # the credential that authorizes each transaction data entry: the first named held
    for o in objs:
        first = next((i for i in o["credential_ids"] if i in held), None)
        if first is None:
            raise TransactionDataError(f"the wallet holds none of the credentials {o['credential_ids']}")
        signer.append(first)
    out: dict[str, list[str]] = {}
    for q in r.credentials:
        if q["id"] not in credentials:
            raise TransactionDataError(f"the wallet holds no credential for the query {q['id']!r}")
        text, key = credentials[q["id"]]
        vcts = q.get("meta", {}).get("vct_values") if isinstance(q.get("meta"), dict) else None
        if vcts is not None and _vct(text) not in vcts:
            raise TransactionDataError(f"the credential held for {q['id']!r} is not of a requested vct")
        mine = [(t, o) for t, o, s in zip(r.transaction_data, objs, signer, strict=True) if s == q["id"]]
        names = {c["path"][0] for c in q.get("claims", []) if isinstance(c, dict) and c.get("path")}
        out[q["id"]] = [_present(text, key, names, mine, r, iat)]
    return out


def _vct(text: str) -> Any:
    return sdjwt.jwt_payload(text.split("~", 1)[0], "credential").get("vct")


def _present(
    text: str,
    key: sdjwt.PrivateKey,
    names: set[str],
    bound: list[tuple[str, dict[str, Any]]],
    r: Request,
    iat: int,
) -> str:
    hashes = [data_hash(t) for t, _ in bound] or None
    delegates = [o for _, o in bound if o["type"] == DELEGATE]
    if len(delegates) > 1:
        raise TransactionDataError("one presentation binds at most one delegate transaction data")
    chained = "~~" in text
    if not delegates:
        if chained:
            raise TransactionDataError("a mandate chain is presented only to close or delegate a mandate")
        return sdjwt.present(
            text, names, key, aud=r.client_id, nonce=r.nonce, iat=iat, transaction_data_hashes=hashes
        )
    if not chained:
        text = sdjwt.prune(text, lambda d: d.name in names)
    d = delegates[0]
    payloads = d["delegate_payload"]
    claims = {"transaction_data_hashes": hashes, "transaction_data_hashes_alg": HASH_ALG}
    return sdjwt.delegate(
        text,
        key,
        payloads,
        aud=r.client_id,
        nonce=r.nonce,
        iat=iat,
        binds_key=all(isinstance(p.get("cnf"), dict) for p in payloads),
        claims=claims,
        inner=list(d.get("delegate_disclosures", [])),
    )


# ---------------------------------------------------------------- the verifier


@dataclass(frozen=True)
class Presented:
    """A verified presentation: its text, the credential's signed payload (``iss``, ``status``,
    ...) and claims as disclosed, the key binding's payload, the transaction data it binds
    (decoded), and for a delegation its chain (the key-binding link last)."""

    text: str
    credential: dict[str, Any]
    claims: dict[str, Any]
    kb: dict[str, Any]
    transaction_data: tuple[dict[str, Any], ...]
    chain: sdjwt.Chain | None


def verify_response(
    req: Request,
    vp_token: Any,
    issuers: Mapping[str, Any],
    *,
    now: float,
    status: Callable[[dict[str, Any]], None] | None = None,
    root_typs: frozenset[str] = frozenset({sdjwt.TYP}),
) -> dict[str, Presented]:
    """Verify a ``vp_token`` answering `req` (typed errors: SdJwt* for the presentations,
    TransactionDataHashError for hashes missing, wrong or of an algorithm not allowed,
    TransactionDataError for a delegation that is not the one requested); `status(credential
    payload)` checks each credential's status (status_list.StatusLists.check)."""
    objs = req.decoded()
    ids = [c["id"] for c in req.credentials]
    if not isinstance(vp_token, dict) or set(vp_token) != set(ids):
        raise TransactionDataError(f"the vp_token answers exactly the queries {ids}")
    out: dict[str, Presented] = {}
    for qid in ids:
        answers = vp_token[qid]
        if not isinstance(answers, list) or len(answers) != 1 or not isinstance(answers[0], str):
            raise TransactionDataError(f"the vp_token holds one presentation (a string) for {qid!r}")
        text = answers[0]
        chain: sdjwt.Chain | None = None
        if text.endswith("~"):
            chain = sdjwt.verify_chain(
                text, issuers, aud=req.client_id, nonce=req.nonce, now=now, open_end=True, root_typs=root_typs
            )
            credential, claims, kb = chain.links[0].payload, chain.links[0].content, chain.links[-1].payload
        else:
            p = sdjwt.verify(text, issuers, aud=req.client_id, nonce=req.nonce, now=now)
            credential = sdjwt.jwt_payload(text.split("~", 1)[0], "credential")
            claims, kb = p.claims, p.kb
        bound = _bound(qid, kb, req.transaction_data, objs)
        delegates = [o for o in bound if o["type"] == DELEGATE]
        if chain is not None:
            if len(delegates) != 1:
                raise TransactionDataError(
                    f"the presentation for {qid!r} delegates what no transaction data asks"
                )
            _same_delegation(chain.links[-1], delegates[0])
        elif delegates:
            raise TransactionDataError(
                f"the presentation for {qid!r} answers a delegate request without delegating"
            )
        if status is not None:
            status(credential)
        out[qid] = Presented(text, credential, claims, kb, tuple(bound), chain)
    for text, obj in zip(req.transaction_data, objs, strict=True):
        n = sum(
            data_hash(text) in (out[i].kb.get("transaction_data_hashes") or []) for i in obj["credential_ids"]
        )
        if n != 1:
            raise TransactionDataHashError(
                f"a {obj['type']} transaction data entry is bound by {n} presentations, not exactly one"
            )
    return out


def _bound(
    qid: str, kb: dict[str, Any], texts: tuple[str, ...], objs: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The transaction data objects a key binding binds (checked: hashes of requested entries
    naming this credential, with an allowed algorithm)."""
    hashes = kb.get("transaction_data_hashes")
    mine = {data_hash(t): o for t, o in zip(texts, objs, strict=True) if qid in o["credential_ids"]}
    if hashes is None:
        if "transaction_data_hashes_alg" in kb:
            raise TransactionDataHashError("transaction_data_hashes_alg without transaction_data_hashes")
        return []
    if not isinstance(hashes, list) or not hashes or not all(isinstance(h, str) for h in hashes):
        raise TransactionDataHashError("transaction_data_hashes must be a non-empty list of strings")
    if len(set(hashes)) != len(hashes):
        raise TransactionDataHashError("transaction_data_hashes repeats a hash")
    alg = kb.get("transaction_data_hashes_alg")
    out = []
    for h in hashes:
        if h not in mine:
            raise TransactionDataHashError(
                f"the presentation for {qid!r} binds transaction data that was not requested of it (a hash matches none)"
            )
        obj = mine[h]
        allowed = obj.get("transaction_data_hashes_alg")
        if allowed is not None and alg is None:
            raise TransactionDataHashError(
                "the request named hash algorithms: transaction_data_hashes_alg is required"
            )
        if (alg if alg is not None else HASH_ALG) != HASH_ALG or (allowed is not None and alg not in allowed):
            raise TransactionDataHashError(
                f"transaction_data_hashes_alg {alg!r} is not one the request allows"
            )
        out.append(obj)
    return out


def _same_delegation(link: sdjwt.Link, obj: dict[str, Any]) -> None:
    """The key-binding link's ``delegate_payload`` elements are exactly the requested payloads
    (as concealed, in order), every one disclosed, with the requested disclosures."""
    parts = link.serialized.split("~")[1:-1]
    by_digest = {sdjwt.digest(e): sdjwt.Disclosure.parse(e) for e in parts}
    elements = [by_digest.get(el["..."]) for el in link.payload[sdjwt.DELEGATE]]
    if any(e is None for e in elements) or [e.value for e in elements if e] != obj["delegate_payload"]:
        raise TransactionDataError("the delegation signed is not the delegate_payload requested")
    if not set(obj.get("delegate_disclosures", [])) <= set(parts):
        raise TransactionDataError("the delegation leaves out disclosures the request carried")


def split(text: str) -> list[str]:
    """A delegation's chain (its last link holding several ``delegate_payload`` elements) as one
    chain per element: the last link keeps that element and the disclosures under it only (what
    ap2's checks and ap2.close take: one mandate per link)."""
    payload = sdjwt.jwt_payload(sdjwt.last_link(text).split("~", 1)[0], "last link")
    arr = payload.get(sdjwt.DELEGATE)
    if not isinstance(arr, list) or not arr:
        raise SdJwtError("the last link delegates nothing")
    elements = {el.get("...") for el in arr if isinstance(el, dict)}
    return [
        sdjwt.prune(text, lambda d, h=h: d.digest not in elements or d.digest == h)
        for h in (el.get("...") for el in arr if isinstance(el, dict))
    ]
