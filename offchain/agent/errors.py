"""Typed errors of the agent component (all subclasses of ``AgentError``).

An x402 refusal carries the protocol's reason code (``code``), the string a facilitator answers in
``invalidReason`` / ``errorReason`` (x402 v2 §9 where it names one)."""

from typing import Any

from offchain.errors import AgentError


class X402Error(AgentError):
    """An x402 payment or message was refused; ``code`` is its x402 reason string."""

    code = "unexpected_verify_error"

    def __init__(self, message: str, payer: str | None = None) -> None:
        super().__init__(message)
        self.payer = payer


class PaymentVersionError(X402Error):
    """The message's x402Version is not 2."""

    code = "invalid_x402_version"


class PaymentPayloadError(X402Error):
    """A PaymentPayload, PaymentRequired or header is malformed (bad base64, JSON, field, type)."""

    code = "invalid_payload"


class PaymentRequirementsError(X402Error):
    """The payment requirements are malformed, or the payload's `accepted` differs from them."""

    code = "invalid_payment_requirements"


class PaymentSchemeError(X402Error):
    """The scheme is not one this facilitator settles (exact, upto)."""

    code = "unsupported_scheme"


class PaymentNetworkError(X402Error):
    """The payment names another network (CAIP-2 chain id) than the facilitator's chain."""

    code = "invalid_network"


class PaymentAssetError(X402Error):
    """The payment is in another token than the one required (or the facilitator settles); x402
    names no code for it (its SDKs fold it into their scheme checks)."""

    code = "invalid_exact_evm_payload_asset_mismatch"


class PaymentPayeeError(X402Error):
    """The authorization pays someone else than the requirements' payTo (or, upto, the settler)."""

    code = "invalid_exact_evm_payload_recipient_mismatch"


class PaymentAmountError(X402Error):
    """The authorized value is not the amount required (exact), or the charge exceeds it (upto)."""

    code = "invalid_exact_evm_payload_authorization_value_mismatch"


class PaymentNotYetValidError(X402Error):
    """The authorization's validAfter has not passed yet."""

    code = "invalid_exact_evm_payload_authorization_valid_after"


class PaymentExpiredError(X402Error):
    """The authorization's validBefore has passed (or is too close to settle in time)."""

    code = "invalid_exact_evm_payload_authorization_valid_before"


class PaymentReplayedError(X402Error):
    """The authorization's nonce is already used or canceled on-chain, or being settled now (x402
    §9 names no code for it: this is the one the official SDKs answer)."""

    code = "invalid_exact_evm_nonce_already_used"


class PaymentSignatureError(X402Error):
    """The signature is not the payer's over this authorization (tampered, another key, another
    domain or type)."""

    code = "invalid_exact_evm_payload_signature"


class PaymentUnderfundedError(X402Error):
    """The payer's balance does not cover the authorized value."""

    code = "insufficient_funds"


class SettlementError(X402Error):
    """The settlement transaction failed or reverted on-chain."""

    code = "invalid_transaction_state"


class FacilitatorError(X402Error):
    """The facilitator did not answer, or answered something that is no x402 response."""

    code = "unexpected_settle_error"


class BudgetExceededError(AgentError):
    """Paying would take a client over its budget (total or per request)."""


class NoAcceptablePaymentError(AgentError):
    """None of a 402's payment options is one this client can or may pay (scheme, network, asset,
    payee, amount)."""


class PaymentRefusedError(AgentError):
    """The resource server refused the client's payment (a second 402); ``reason`` is its x402
    reason code."""

    def __init__(self, message: str, reason: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason


class MandateError(AgentError):
    """An AP2 mandate is malformed, or a payment falls outside it."""


class MandateSignatureError(MandateError):
    """A mandate is not signed by the party it must be signed by."""


class MandateExpiredError(MandateError):
    """A mandate, a link of its chain or the credential at its root has expired."""


class MandateNotYetValidError(MandateError):
    """A mandate, a link of its chain or the credential at its root is not valid yet (``nbf``, or
    an ``iat`` in the future)."""


class MandateTypeError(MandateError):
    """A mandate's ``vct`` is not the one its place asks for (``mandate.payment.1`` closing a
    payment, ``mandate.payment.open.1`` before it, ...)."""


class MandateMismatchError(MandateError):
    """The closed mandate does not describe this payment or checkout (payee, amount, currency,
    instrument), or changes a claim an open mandate fixed."""


class MandateHashError(MandateMismatchError):
    """A hash binding fails: ``checkout_hash`` is not the hash of ``checkout_jwt`` or of the
    checkout this merchant issued, a payment's ``transaction_id`` is not the checkout's hash, or a
    ``payment.reference`` names no link of the checkout's chain."""


class MandateLimitError(MandateError):
    """The closed mandate breaks a constraint of an open mandate above it."""


class MandateAmountError(MandateLimitError):
    """The amount is outside a ``payment.amount_range`` (or in another currency)."""


class MandatePayeeError(MandateLimitError):
    """The payee (or the merchant) is not among the revealed allowed ones."""


class MandateBudgetError(MandateLimitError):
    """The amount would take the payments under an open mandate over its ``payment.budget``, or
    past its ``payment.agent_recurrence``."""


class MandateConstraintError(MandateLimitError):
    """An open mandate holds a constraint this verifier does not know or cannot evaluate (AP2's
    ``unresolved_constraint``: unknown constraints fail)."""


class MandateWidenedError(MandateError):
    """An open mandate delegated further down a chain widens a constraint of the one above it (a
    delegation may only narrow)."""


class MandateReplayError(MandateError):
    """The closed mandate's ``transaction_id`` (its checkout) was already accepted here (AP2's
    ``mandate_already_used``)."""


class SdJwtError(MandateError):
    """An SD-JWT (a mandate, a chain of them, or a credential; offchain/agent/sdjwt.py) is
    malformed or of a kind this verifier does not take (algorithm, type, structure)."""


class SdJwtSignatureError(SdJwtError, MandateSignatureError):
    """The SD-JWT's signature does not verify under the key trusted for its issuer, or its
    key-binding JWT not under the holder key the credential binds."""


class SdJwtIssuerError(SdJwtSignatureError):
    """The SD-JWT names an issuer (``iss``) this verifier does not trust."""


class SdJwtChainError(SdJwtError, MandateSignatureError):
    """A delegation chain is broken: a link is not signed by the key its predecessor binds
    (``cnf``), a link that must bind a key binds none, or the links are not separated as Delegate
    SD-JWT says."""


class SdJwtExpiredError(SdJwtError, MandateExpiredError):
    """The credential or a link has expired, or the key binding is stale."""


class SdJwtNotYetValidError(SdJwtError, MandateNotYetValidError):
    """The credential or a link is not valid yet (``nbf``), or a key binding is from the future."""


class SdJwtBindingError(SdJwtError, MandateMismatchError):
    """The key binding is for another audience, nonce or presentation (``sd_hash``), or missing,
    or a disclosed claim is not what the payment needs."""


class SdJwtDisclosureError(SdJwtError):
    """A disclosure is tampered with, repeated, or not referenced by the signed payload."""


class TransactionDataError(SdJwtError):
    """OpenID4VP ``transaction_data`` (offchain/agent/oid4vp.py) is malformed, of a type this party
    does not know, names credentials the request does not query, or is not what the presentation
    carries (OpenID4VP's ``invalid_transaction_data``); or the request or response around it is
    malformed."""


class TransactionDataHashError(SdJwtBindingError):
    """A presentation's key binding does not bind the request's ``transaction_data``: its
    ``transaction_data_hashes`` are missing, not the hashes of the strings sent, or made with an
    algorithm the request did not allow (``transaction_data_hashes_alg``)."""


class IssuerMetadataError(SdJwtIssuerError):
    """An issuer's key could not be discovered: its ``/.well-known/jwt-vc-issuer`` metadata (or the
    ``jwks_uri`` it names) is unreachable, too large, too slow, at an address that is not public,
    malformed, or names another issuer; or no key in it has the ``kid`` the credential names."""


class StatusListError(SdJwtError):
    """A credential's status (IETF Token Status List, offchain/agent/status_list.py) cannot be
    established: its ``status`` claim is malformed, the Status List Token is unreachable, too
    large, a decompression bomb, malformed, for another ``sub``, or the index is out of range."""


class StatusListSignatureError(StatusListError, SdJwtSignatureError):
    """A Status List Token is not signed by the key of the issuer whose credential points to it."""


class StatusListExpiredError(StatusListError, SdJwtExpiredError):
    """A Status List Token has expired (``exp``), or is older than its ``ttl`` allows."""


class CredentialRevokedError(StatusListError):
    """The issuer's status list marks the credential INVALID (revoked): refused for good."""


class CredentialSuspendedError(StatusListError):
    """The issuer's status list marks the credential SUSPENDED: refused while it is."""


class StatusListFormatError(StatusListError):
    """A Status List Token (or a Referenced Token in CWT form) is malformed: not a COSE_Sign1 or a
    compact JWS, truncated or otherwise bad CBOR, claims of the wrong type, or a ``lst`` that is
    not ZLIB data."""


class StatusListTypeError(StatusListError):
    """A Status List Token is of another type: its HTTP content type is neither
    ``application/statuslist+jwt`` nor ``application/statuslist+cwt``, or its ``typ`` (JWT
    header; COSE header 16) is not the status list's."""


class StatusListIndexError(StatusListError):
    """The credential's ``idx`` lies outside the status list."""


class AuthorizationRequestError(SdJwtError):
    """An OpenID4VP Authorization Request (offchain/agent/oid4vp_http.py) is refused by the
    wallet: malformed, or of a kind it does not take (OpenID4VP's ``invalid_request``)."""


class RequestObjectSignatureError(AuthorizationRequestError, SdJwtSignatureError):
    """The Request Object (RFC 9101 JAR) is unsigned (``alg: none``), signed with another
    algorithm than ES256, not signed by the key of its ``x5c`` leaf, or that certificate does not
    chain to a root the wallet trusts at the time of the request (``invalid_request_object``)."""


class RequestObjectTypeError(AuthorizationRequestError):
    """The Request Object's ``typ`` is not ``oauth-authz-req+jwt``, or the request_uri answered
    another content type than ``application/oauth-authz-req+jwt``."""


class ClientIdError(AuthorizationRequestError):
    """The ``client_id`` is not bound to the request: the Request Object's differs from the one
    the wallet was given, its prefix is not one the wallet supports, the certificate does not
    carry its DNS name (``x509_san_dns``) or hash (``x509_hash``), or the ``response_uri`` is not
    on the host it names (``invalid_client``)."""


class DidResolutionError(ClientIdError):
    """A ``decentralized_identifier:`` client identifier names a DID this wallet cannot resolve:
    not a DID, a method that needs the network (only ``did:jwk`` and ``did:key`` resolve offline
    here), or a ``did:jwk`` / ``did:key`` that does not decode to a public key (base64url JSON JWK;
    base58btc multibase with a P-256, secp256k1 or Ed25519 multicodec)."""


class DidKeyError(ClientIdError):
    """The key of a ``decentralized_identifier:`` request is not the DID's: the JOSE ``kid`` is
    absent or not a DID URL of the client identifier's DID, names no verification method of its
    DID document, or that method's key cannot verify ES256 (a secp256k1 or Ed25519 key)."""


class VerifierAttestationError(ClientIdError):
    """A ``verifier_attestation:`` request is refused: its JOSE header carries no Verifier
    Attestation JWT (``jwt``), or that JWT is malformed (not a compact JWS, claims of the wrong
    types). Each specific refusal is a subclass."""


class VerifierAttestationTypeError(VerifierAttestationError):
    """The Verifier Attestation JWT's ``typ`` is not ``verifier-attestation+jwt`` (or its ``alg``
    not ES256)."""


class VerifierAttestationIssuerError(VerifierAttestationError, SdJwtIssuerError):
    """The Verifier Attestation JWT's ``iss`` is not an attester the wallet trusts (or names no key
    of it, or the attester's certificate is outside its validity)."""


class VerifierAttestationSignatureError(VerifierAttestationError, SdJwtSignatureError):
    """The Verifier Attestation JWT is not signed by the trusted attester's key."""


class VerifierAttestationSubjectError(VerifierAttestationError):
    """The Verifier Attestation JWT's ``sub`` is not the client identifier's value."""


class VerifierAttestationExpiredError(VerifierAttestationError, SdJwtExpiredError):
    """The Verifier Attestation JWT names no expiry (``exp``), or has expired."""


class VerifierAttestationNotYetValidError(VerifierAttestationError, SdJwtNotYetValidError):
    """The Verifier Attestation JWT was issued (``iat``) or becomes valid (``nbf``) in the future,
    or expires before it was issued."""


class VerifierAttestationKeyError(VerifierAttestationError):
    """The Verifier Attestation JWT binds no key (``cnf.jwk``, a P-256 public JWK): the request
    cannot be checked against it."""


class VerifierAttestationRedirectError(VerifierAttestationError):
    """The Verifier Attestation JWT names ``redirect_uris`` and the request's ``response_uri`` is
    not one of them (or ``redirect_uris`` is not a list of strings)."""


class VerifierInfoError(AuthorizationRequestError):
    """A request's ``verifier_info`` is malformed: not a non-empty array of objects, an entry
    without a string ``format`` or with no ``data`` (an object or a string), or ``credential_ids``
    that are not a non-empty list of the DCQL credential query ids of the request."""


class RequestUriError(AuthorizationRequestError):
    """The ``request_uri`` is off the wallet's policy (scheme, a non-public address, too long) or
    its answer is unreachable, not 200, too large or too slow (``invalid_request_uri``), or the
    ``request_uri_method`` is neither ``get`` nor ``post`` (``invalid_request_uri_method``)."""


class RequestExpiredError(AuthorizationRequestError, SdJwtExpiredError):
    """The Request Object has expired (``exp``), names no expiry, lives longer than the wallet
    allows, or was issued in the future (``iat``)."""


class WalletNonceError(AuthorizationRequestError, SdJwtBindingError):
    """The Request Object fetched with ``request_uri_method=post`` does not carry the
    ``wallet_nonce`` the wallet sent (a replayed or substituted Request Object), or its ``aud``
    is not the wallet."""


class ResponseModeError(AuthorizationRequestError):
    """The request names a ``response_mode`` this party does not take (``direct_post`` and
    ``direct_post.jwt``; over the Digital Credentials API ``dc_api`` and ``dc_api.jwt``), an
    encrypting request carries no usable encryption key, or a response arrived in another mode (or
    for another kind of request) than the request named."""


class DcqlUnmatchedError(AuthorizationRequestError):
    """No credential the wallet holds answers a DCQL credential query (format, ``vct_values``,
    the claims it names) (OpenID4VP's ``access_denied``)."""


class WalletMetadataError(AuthorizationRequestError):
    """The verifier cannot answer a ``request_uri`` POST as the wallet's ``wallet_metadata`` asks:
    not a JSON object, a ``jwks`` that is malformed or holds no P-256 ``ECDH-ES`` encryption key
    (a key of another curve or type is not one it takes), request object or response encryption
    algorithms (``alg``/``enc``) none of which it implements, no ``ES256`` among the signing
    algorithms, or a ``wallet_nonce`` that is empty, too long or not printable ASCII. OpenID4VP 1.0
    defines no error code for it: the answer is HTTP 400 ``invalid_request``, and the wallet ends
    the flow (Request URI Error Response)."""


class RequestObjectEncryptionError(AuthorizationRequestError):
    """The wallet refuses the encrypted Request Object it asked for: not a JWE it can decrypt
    (``ECDH-ES`` with ``A128GCM``/``A256GCM`` to the key it sent, ``cty`` naming a nested JWT),
    a plain JWS where it asked for encryption, or a JWE where it did not (RFC 9101 section 6.1:
    ``invalid_request_object``)."""


class DcApiProtocolError(AuthorizationRequestError):
    """A Digital Credentials API request (OpenID4VP 1.0 Appendix A) is refused: its protocol is
    not ``openid4vp-v1-unsigned``, ``-signed`` or ``-multisigned``, its ``data`` is not of the
    form the protocol names (``request`` in an unsigned one, anything but ``request`` in a signed
    one, no JWS JSON serialization in a multi-signed one), an unsigned request where the wallet
    requires a signed one, no signature the wallet can verify, or a response posted in another
    protocol than its request's (``invalid_request``)."""


class OriginError(SdJwtBindingError):
    """The web origin of a Digital Credentials API exchange is not the one bound: the origin the
    platform reports is not in the signed request's ``expected_origins`` (the wallet's refusal,
    ``invalid_request``), a request names the reserved ``origin:`` client identifier prefix, the
    origin a response is posted from is not one the verifier serves, or a presentation's
    key-binding ``aud`` is not ``origin:`` and that origin (the verifier's refusal)."""


class AuthorizationResponseError(SdJwtError):
    """An Authorization Response posted to the verifier's response endpoint is refused: malformed
    (no ``vp_token``, not JSON, an undecryptable ``response``), or for no pending request."""


class ResponseStateError(AuthorizationResponseError, SdJwtBindingError):
    """The response's ``state`` names no request of this verifier, a request already answered
    (a replay), or one that has expired."""


class AgentNotFoundError(AgentError):
    """No agent has this id in the identity registry (or the deployment records none)."""


class HistoryOptionsError(AgentError):
    """``eigen agent history``: options that only work together were given apart (the DA
    disperser and the DA network's client config)."""


class AgentOptionsError(AgentError):
    """An agent command's TLS, mutual TLS or revocation options (or their ``EIGEN_A2A_*``
    settings) do not fit together, or a file they name cannot be used."""


class A2AError(AgentError):
    """An A2A request or answer was refused; ``rpc_code`` is its JSON-RPC error code (the A2A
    specification's numbers: -327xx/-326xx are JSON-RPC's own, -320xx A2A's); over the HTTP+JSON
    binding it is ``http_status`` with an AIP-193 error body (``status``, the google.rpc code's
    name, which is also the gRPC status code of the error, and ``reason``, the ErrorInfo reason);
    the mapping is the specification's (section 5.4)."""

    rpc_code = -32603
    http_status, status, reason = 500, "INTERNAL", "INTERNAL_ERROR"


class A2AParseError(A2AError):
    """The request body is not JSON."""

    rpc_code = -32700
    http_status, status, reason = 400, "INVALID_ARGUMENT", "PARSE_ERROR"


class A2AInvalidRequestError(A2AError):
    """The body is JSON but no JSON-RPC 2.0 request (version, method, id), or a batch."""

    rpc_code = -32600
    http_status, status, reason = 400, "INVALID_ARGUMENT", "INVALID_REQUEST"


class A2AMethodNotFoundError(A2AError):
    """The JSON-RPC method is not one this agent serves."""

    rpc_code = -32601
    http_status, status, reason = 404, "NOT_FOUND", "METHOD_NOT_FOUND"


class A2AInvalidParamsError(A2AError):
    """The method's params are malformed (a Message, Part or metadata field of the wrong type)."""

    rpc_code = -32602
    http_status, status, reason = 400, "INVALID_ARGUMENT", "INVALID_PARAMS"


class A2ATaskNotFoundError(A2AError):
    """No task has this id (never created, or forgotten)."""

    rpc_code = -32001
    http_status, status, reason = 404, "NOT_FOUND", "TASK_NOT_FOUND"


class A2ATaskNotCancelableError(A2AError):
    """CancelTask on a task that has ended, or whose payment is being settled."""

    rpc_code = -32002
    http_status, status, reason = 400, "FAILED_PRECONDITION", "TASK_NOT_CANCELABLE"


class A2AUnsupportedOperationError(A2AError):
    """The operation does not apply to the task now (a message to a finished task, a payment to
    a task that awaits none)."""

    rpc_code = -32004
    http_status, status, reason = 400, "FAILED_PRECONDITION", "UNSUPPORTED_OPERATION"


class A2ATaskConflictError(A2AUnsupportedOperationError):
    """The task changed while this request was handling it (another process of the agent, sharing
    its store, took it first: a second payment of one task); fetch it again."""


class A2AExtensionRequiredError(A2AError):
    """The request did not activate an extension the agent requires (the x402 extension)."""

    rpc_code = -32008
    http_status, status, reason = 400, "FAILED_PRECONDITION", "EXTENSION_SUPPORT_REQUIRED"


class A2AVersionError(A2AError):
    """The request asks for an A2A protocol version this agent does not speak."""

    rpc_code = -32009
    http_status, status, reason = 400, "FAILED_PRECONDITION", "VERSION_NOT_SUPPORTED"


class A2AResponseError(A2AError):
    """The agent answered something that is no A2A response (client side)."""

    rpc_code = -32006
    http_status, status, reason = 500, "INTERNAL", "INVALID_AGENT_RESPONSE"


class A2APushNotificationNotSupportedError(A2AError):
    """A push-notification operation on an agent that sends none."""

    rpc_code = -32003
    http_status, status, reason = 400, "FAILED_PRECONDITION", "PUSH_NOTIFICATION_NOT_SUPPORTED"


class A2AContentTypeNotSupportedError(A2AError):
    """A part's media type is not one the agent (or the skill) takes."""

    rpc_code = -32005
    http_status, status, reason = 400, "INVALID_ARGUMENT", "CONTENT_TYPE_NOT_SUPPORTED"


class A2AExtendedCardNotConfiguredError(A2AError):
    """The agent declares an extended card but has none configured."""

    rpc_code = -32007
    http_status, status, reason = 400, "FAILED_PRECONDITION", "EXTENDED_AGENT_CARD_NOT_CONFIGURED"


class A2AUnauthenticatedError(A2AError):
    """The operation needs an authenticated caller (``Authorization: Bearer``), or the credentials
    presented are not the agent's. A2A leaves JSON-RPC's code to the implementation: -32040 here."""

    rpc_code = -32040
    http_status, status, reason = 401, "UNAUTHENTICATED", "UNAUTHENTICATED"


class A2ACardSignatureError(A2AError):
    """An agent card's signatures do not establish it (client side)."""

    rpc_code = -32006
    http_status, status, reason = 500, "INTERNAL", "INVALID_AGENT_CARD_SIGNATURE"


class A2ACardTamperedError(A2ACardSignatureError):
    """A signature by a trusted key does not verify over the card: the card (or the signature) was
    changed after signing, or another key signed it under the trusted key's id."""


class A2ACardUntrustedKeyError(A2ACardSignatureError):
    """The card carries no signature by a key the client trusts (unsigned, or signed by others)."""


class A2ACardAlgorithmError(A2ACardSignatureError):
    """A signature names an algorithm this client does not verify (only ES256 and ES256K are)."""


class A2ATokenError(A2AUnauthenticatedError):
    """An OAuth 2.0 / OpenID Connect access token (a JWT) is refused; the kinds below say why.
    Over the wire every kind is UNAUTHENTICATED (a caller learns nothing more than it would from
    an unknown token); the server logs the kind."""


class A2ATokenExpiredError(A2ATokenError):
    """The access token's ``exp`` has passed (or it has none)."""


class A2ATokenNotYetValidError(A2ATokenError):
    """The access token's ``nbf`` (or ``iat``) is in the future."""


class A2ATokenIssuerError(A2ATokenError):
    """The access token's ``iss`` is no issuer the agent trusts."""


class A2ATokenAudienceError(A2ATokenError):
    """The access token's ``aud`` does not name this agent."""


class A2ATokenScopeError(A2ATokenError):
    """The access token lacks a scope the agent's security requirement names."""


class A2ATokenKeyError(A2ATokenError):
    """The access token's ``kid`` is no key of its issuer's key set (after one refresh), or the
    issuer's key set could not be fetched."""


class A2ATokenAlgorithmError(A2ATokenError):
    """The access token's ``alg`` is not on the issuer's allow-list (``none``, HMAC: refused), does
    not match its key's type, or the token names ``crit`` parameters."""


class A2ATokenSignatureError(A2ATokenError):
    """The access token is malformed, or its signature does not verify under its issuer's key."""


class A2ATenantError(A2AError):
    """A request names a tenant the agent does not serve, or one this caller is not a member of
    (one error for both: no hint of which tenants exist)."""

    rpc_code = -32041
    http_status, status, reason = 403, "PERMISSION_DENIED", "TENANT_NOT_PERMITTED"


class A2AKeySetError(A2AError):
    """A JSON Web Key Set (an agent card's ``jku``, an issuer's ``jwks_uri``) could not be used:
    unreachable, not JSON, malformed (client side, or an agent fetching its issuers' keys)."""

    rpc_code = -32006
    http_status, status, reason = 500, "INTERNAL", "KEY_SET_UNAVAILABLE"


class A2AKeySetAddressError(A2AKeySetError):
    """The key set's URL is not https, carries credentials, or its host is (or resolves to) an
    address that is not public: refused before anything is sent (server-side request forgery)."""


class A2AKeySetPolicyError(A2AKeySetError):
    """A card's ``jku`` is not a URL the client trusts (not the card's origin, not allow-listed)."""


class A2AKeySetSizeError(A2AKeySetError):
    """The key set is larger than the bound (or holds more keys than allowed)."""


class A2AIssuerMetadataError(A2AKeySetError):
    """An issuer's discovery document (OpenID Connect Discovery ``openid-configuration``, RFC 8414
    ``oauth-authorization-server``) cannot be used: not found, not JSON, not an object, or
    without an https ``jwks_uri``."""


class A2AIssuerMismatchError(A2AIssuerMetadataError):
    """The discovery document's ``issuer`` is not exactly the issuer configured (a document served
    for, or by, another issuer)."""


class A2AClientCertificateError(A2AUnauthenticatedError):
    """A caller's TLS client certificate (mutual TLS) is refused; the kinds below say why. Over the
    wire every kind is UNAUTHENTICATED; the agent logs the kind."""


class A2AClientCertificateMissingError(A2AClientCertificateError):
    """The agent serves callers by client certificate and none was presented (nor another
    credential)."""


class A2AClientCertificateUntrustedError(A2AClientCertificateError):
    """The client certificate does not chain to a CA the agent trusts for callers."""


class A2AClientCertificateExpiredError(A2AClientCertificateError):
    """The client certificate (or a certificate of its chain) is expired or not yet valid."""


class A2AClientCertificateUnknownError(A2AClientCertificateError):
    """The client certificate verifies but names no caller the agent knows (no fingerprint,
    subject alternative name or subject configured), or names several."""


class A2AClientCertificateRevokedError(A2AClientCertificateError):
    """The client certificate (or a certificate of its chain) is revoked by its CA: listed on the
    CA's CRL, or answered ``revoked`` by its OCSP responder."""


class A2ARevocationError(A2AClientCertificateError):
    """A client certificate's revocation status could not be established (a2a_revocation.py); the
    kinds below say why. Only :class:`A2ARevocationUnavailableError` may be passed over by a
    soft-fail policy; every other kind refuses the certificate whatever the policy."""


class A2ARevocationUnavailableError(A2ARevocationError):
    """No revocation status could be fetched: the CRL distribution point or the OCSP responder did
    not answer (connection, timeout, an answer other than 200, OCSP ``tryLater`` or
    ``internalError``), or the certificate names no source and none is configured."""


class A2ARevocationNoSourceError(A2ARevocationUnavailableError):
    """The certificate names no CRL distribution point (or OCSP responder) for the mode in use, and
    no CRL of its issuer is configured: refused under either policy (soft-fail passes over an
    unreachable source, not a missing one); ``either`` mode falls back from OCSP to the CRL."""


class A2ARevocationAddressError(A2ARevocationError):
    """A CRL distribution point's or OCSP responder's URL is refused before anything is sent (not
    http(s), credentials in it, a host that is not public: server-side request forgery)."""


class A2ARevocationFormatError(A2ARevocationError):
    """A CRL or OCSP response is malformed, too large, without ``nextUpdate`` (CRL), answers for
    another certificate, or its OCSP status is a refusal (``malformedRequest``, ``unauthorized``,
    ``sigRequired``)."""


class A2ARevocationSignatureError(A2ARevocationError):
    """A CRL's signature does not verify under its issuing CA's key, or an OCSP response's under
    its responder's key."""


class A2ARevocationIssuerError(A2ARevocationError):
    """A CRL was issued by another CA than the certificate's (its issuer name differs)."""


class A2ARevocationResponderError(A2ARevocationError):
    """An OCSP response is signed by a responder the certificate's CA did not authorize: neither
    the CA itself nor a certificate the CA issued with the id-kp-OCSPSigning extended key usage
    (valid now)."""


class A2ARevocationStaleError(A2ARevocationError):
    """A CRL or OCSP response is not current: past its ``nextUpdate`` (beyond the configured
    grace), ``thisUpdate`` in the future, or an OCSP response without ``nextUpdate`` older than the
    maximum age."""


class A2ARevocationNonceError(A2ARevocationError):
    """An OCSP response carries another nonce than the request sent (a replayed response), or none
    when the policy requires it."""


class A2ARevocationUnknownError(A2ARevocationError):
    """The OCSP responder answered ``unknown`` for the certificate (refused unless the policy
    accepts it)."""


class A2ARevocationDeltaError(A2ARevocationError):
    """A delta CRL (RFC 5280 §5.2.4) cannot be used: a delta given where the complete CRL is due
    (a CRL with deltaCRLIndicator is never taken as complete), a Freshest CRL that is no delta, a
    delta whose BaseCRLNumber is above the complete CRL's CRLNumber (or a complete CRL without
    one), a delta whose CRLNumber is not above its base, or a delta older than the complete CRL."""


class A2ARevocationIndirectError(A2ARevocationError):
    """An indirect CRL (RFC 5280 §5.2.5, a CRL signed by a CRL issuer other than the CA) cannot be
    taken: no certificate of the CRL issuer the distribution point names is configured, that
    certificate is not issued by the certificate's CA, lacks keyUsage cRLSign or is not valid now,
    or the CRL's issuingDistributionPoint does not say indirectCRL."""


class A2ARevocationScopeError(A2ARevocationError):
    """A CRL's issuingDistributionPoint does not cover the certificate: only user certificates (a
    CA's checked), only CA certificates (an end entity's), only attribute certificates, only some
    revocation reasons, or another distribution point than the one it was fetched from."""


class A2ARevocationPolicyError(A2ARevocationError, ValueError):
    """A revocation policy's settings contradict each other (raised when it is made, never for a
    caller): OCSP by GET sends no nonce, so it cannot require one."""


class A2ATokenBindingError(A2ATokenError):
    """The access token is bound to a client certificate (``cnf`` ``x5t#S256``, RFC 8705) other
    than the one presented, or none was presented."""


class A2ATokenUnboundError(A2ATokenError):
    """The agent takes certificate-bound access tokens only and this one has no ``cnf``
    ``x5t#S256``."""


_A2A_ERRORS = (
    A2AError,
    A2AParseError,
    A2AInvalidRequestError,
    A2AMethodNotFoundError,
    A2AInvalidParamsError,
    A2ATaskNotFoundError,
    A2ATaskNotCancelableError,
    A2AUnsupportedOperationError,
    A2AExtensionRequiredError,
    A2AVersionError,
    A2AResponseError,
    A2APushNotificationNotSupportedError,
    A2AContentTypeNotSupportedError,
    A2AExtendedCardNotConfiguredError,
    A2AUnauthenticatedError,
    A2ATenantError,
)
# JSON-RPC error code -> error class (the client raises the typed error of an agent's answer).
A2A_BY_CODE: dict[int, type[A2AError]] = {cls.rpc_code: cls for cls in _A2A_ERRORS}
# HTTP+JSON: ErrorInfo reason -> error class.
A2A_BY_REASON: dict[str, type[A2AError]] = {cls.reason: cls for cls in _A2A_ERRORS}


class TradingError(AgentError):
    """The verifiable trading agent (offchain/agent/trading.py) refused an input."""


class AppError(TradingError):
    """The host's side of the trading agent's program (offchain/agent/trading_app.py,
    ``TradingApp``): the program died or is gone, answered a malformed or oversized line, did not
    answer in time, or answered ``{"ok": false}``; ``remote`` is then the program's exception class
    name (e.g. ``AppRefusedError``, ``FeedError``), None for a failure seen by the host alone."""

    def __init__(self, message: str, remote: str | None = None) -> None:
        super().__init__(message)
        self.remote = remote


class AppKeyError(TradingError):
    """The trading agent's program cannot use its enclave key file: missing, unreadable, or not
    32 raw bytes or 64 hex digits (the program exits 2)."""


class AppConfigError(TradingError):
    """The trading agent's program was given a malformed configuration line (``AppConfig``): not
    JSON, missing or extra fields, a field of the wrong type, an unreadable tokenizer file."""


class AppRefusedError(AppConfigError):
    """The trading agent's program refused its configuration against the chain: the strategy is not
    the one whose hash the agent's ERC-8004 metadata declares, the vault or policy image is not the
    declared one, the vault's agent or the agent wallet is not the program's own key, the tokenizer,
    model or engine is not the one named, or the node is another chain."""


class AppRequestError(TradingError):
    """The host sent the trading agent's program a line that is not exactly one of its commands
    (``{"op": "address"}``, ``{"op": "step", "step": N}``), or an oversized one: answered with an
    error, nothing done."""


class FeedError(TradingError):
    """A market-data feed is malformed, for another market, or not signed by the data agent."""


class FeedProofError(FeedError):
    """A feed's reserves are not proven at its block: no state proof, one that does not verify against
    the block's hash (offchain.chain.stateproof), or one that proves other reserves, another pool or
    another pool's code (tokens, fee)."""


class RecordError(TradingError):
    """A step record is malformed or its parts do not fit together (strategy, feed, prompt,
    receipt, order)."""


class RecordUnavailableError(TradingError):
    """A step record could not be fetched from DA by its certificate, or the certificate or the
    payload it names did not verify."""


class TradeError(TradingError):
    """A trade could not be made (the AMM or the token refused it)."""


class PolicyTaskError(TradingError):
    """The trading policy's compute task was refused: its task type runs another image than the
    declared one, it was not certified, or its certified output does not parse, is the order of
    another input, or is not the policy's order."""


class PolicyRefusedError(PolicyTaskError):
    """The executor set certified a policy output that is not the policy's order for the step's
    input: nothing was traded. ``result`` is the refused step (its record: the certified task, the
    order HOLD), to disperse to DA as the evidence anyone re-executes (``PolicyReexecutor``)."""

    def __init__(self, message: str, result: Any = None) -> None:
        super().__init__(message)
        self.result = result


class TaskFeeError(PolicyTaskError):
    """A task fee paid through VerifiedEscrow (offchain/agent/taskfee.py) was refused: malformed
    terms, an escrow of another mailbox, a deposit the escrow refused, or a task type that also
    charges a mailbox fee (its certifiers would be paid twice)."""


class PolicyTaskUnknownError(PolicyTaskError):
    """A step record's policy task is not on the chain, or not certified there (created, expired):
    there is no certified output to judge."""


class PolicyImageMismatchError(PolicyTaskError):
    """A step record's policy task runs (or names) another image than the one registered for the
    agent's declared task type, or than the agent declared (its ERC-8004 ``policyImage``)."""


class VaultError(TradingError):
    """The agent's vault (contracts/agent/AgentVault.vy, offchain/agent/vault.py): its artifacts are
    missing, or a request to it was refused."""


class VaultInputError(VaultError):
    """A policy input or result given to the vault's client is malformed or not of the vault's terms
    (strategy, limits, slippage, pool): refused before anything was sent."""


class VaultRefusedError(VaultError):
    """The vault contract refused the call; ``reason`` is its revert string (e.g. "task not
    certified", "task too old", "amount over the limit", or the AMM's "slippage")."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"the vault refused: {reason}")
        self.reason = reason


# Reason code -> error class, to turn a facilitator's answer back into the typed error.
BY_CODE: dict[str, type[X402Error]] = {
    cls.code: cls
    for cls in (
        PaymentVersionError,
        PaymentPayloadError,
        PaymentRequirementsError,
        PaymentSchemeError,
        PaymentNetworkError,
        PaymentAssetError,
        PaymentPayeeError,
        PaymentAmountError,
        PaymentNotYetValidError,
        PaymentExpiredError,
        PaymentReplayedError,
        PaymentSignatureError,
        PaymentUnderfundedError,
        SettlementError,
        FacilitatorError,
    )
} | {
    # the codes the official x402 SDKs (TypeScript, Go, Python) answer where §9 names another
    # or none, and the v1 spelling of the amount mismatch: read as the same refusal
    "invalid_exact_evm_payload_authorization_value": PaymentAmountError,
    "invalid_exact_evm_authorization_value": PaymentAmountError,
    "invalid_exact_evm_insufficient_balance": PaymentUnderfundedError,
    "invalid_exact_evm_signature": PaymentSignatureError,
    "invalid_exact_evm_recipient_mismatch": PaymentPayeeError,
    "invalid_exact_evm_network_mismatch": PaymentNetworkError,
    "network_mismatch": PaymentNetworkError,
    "invalid_exact_evm_scheme": PaymentSchemeError,
    "invalid_scheme": PaymentSchemeError,
    "invalid_exact_evm_transaction_failed": SettlementError,
    "transaction_failed": SettlementError,
    "unexpected_verify_error": FacilitatorError,
}


class AgentStoreError(AgentError):
    """The agent's task and payment store (offchain/agent/agent_store.py) cannot be opened or used:
    a file that is no SQLite database or cannot be written, a DSN that does not connect, a URL of
    no supported engine; the message names the file or the DSN (its password hidden)."""


class PredictionError(AgentError):
    """The AI-settled prediction market (offchain/agent/prediction.py): a question, input record or
    verdict that is malformed, for another request, or not a YES/NO answer."""


__all__ = [
    "A2AClientCertificateRevokedError",
    "A2ARevocationAddressError",
    "A2ARevocationDeltaError",
    "A2ARevocationError",
    "A2ARevocationFormatError",
    "A2ARevocationIndirectError",
    "A2ARevocationIssuerError",
    "A2ARevocationNoSourceError",
    "A2ARevocationNonceError",
    "A2ARevocationPolicyError",
    "A2ARevocationResponderError",
    "A2ARevocationScopeError",
    "A2ARevocationSignatureError",
    "A2ARevocationStaleError",
    "A2ARevocationUnavailableError",
    "A2ARevocationUnknownError",
    "AgentOptionsError",
    "AppConfigError",
    "AppError",
    "AppKeyError",
    "AppRefusedError",
    "AppRequestError",
    "A2ATokenUnboundError",
    "A2ATokenBindingError",
    "A2AIssuerMismatchError",
    "A2AIssuerMetadataError",
    "A2AClientCertificateUntrustedError",
    "A2AClientCertificateUnknownError",
    "A2AClientCertificateMissingError",
    "A2AClientCertificateExpiredError",
    "A2AClientCertificateError",
    "A2A_BY_CODE",
    "A2A_BY_REASON",
    "BY_CODE",
    "A2ACardAlgorithmError",
    "A2ACardSignatureError",
    "A2ACardTamperedError",
    "A2ACardUntrustedKeyError",
    "A2AContentTypeNotSupportedError",
    "A2AError",
    "A2AExtendedCardNotConfiguredError",
    "A2AExtensionRequiredError",
    "A2AInvalidParamsError",
    "A2AInvalidRequestError",
    "A2AKeySetAddressError",
    "A2AKeySetError",
    "A2AKeySetPolicyError",
    "A2AKeySetSizeError",
    "A2AMethodNotFoundError",
    "A2AParseError",
    "A2APushNotificationNotSupportedError",
    "A2AResponseError",
    "A2ATaskConflictError",
    "A2ATaskNotCancelableError",
    "A2ATaskNotFoundError",
    "A2ATenantError",
    "A2ATokenAlgorithmError",
    "A2ATokenAudienceError",
    "A2ATokenError",
    "A2ATokenExpiredError",
    "A2ATokenIssuerError",
    "A2ATokenKeyError",
    "A2ATokenNotYetValidError",
    "A2ATokenScopeError",
    "A2ATokenSignatureError",
    "A2AUnauthenticatedError",
    "A2AUnsupportedOperationError",
    "A2AVersionError",
    "AgentError",
    "AgentNotFoundError",
    "AgentStoreError",
    "AuthorizationRequestError",
    "AuthorizationResponseError",
    "BudgetExceededError",
    "ClientIdError",
    "CredentialRevokedError",
    "CredentialSuspendedError",
    "DcqlUnmatchedError",
    "OriginError",
    "DcApiProtocolError",
    "DidKeyError",
    "DidResolutionError",
    "VerifierAttestationError",
    "VerifierAttestationExpiredError",
    "VerifierAttestationIssuerError",
    "VerifierAttestationKeyError",
    "VerifierAttestationNotYetValidError",
    "VerifierAttestationRedirectError",
    "VerifierAttestationSignatureError",
    "VerifierAttestationSubjectError",
    "VerifierAttestationTypeError",
    "VerifierInfoError",
    "RequestObjectEncryptionError",
    "WalletMetadataError",
    "FacilitatorError",
    "FeedError",
    "FeedProofError",
    "HistoryOptionsError",
    "IssuerMetadataError",
    "MandateAmountError",
    "MandateBudgetError",
    "MandateConstraintError",
    "MandateError",
    "MandateExpiredError",
    "MandateHashError",
    "MandateLimitError",
    "MandateMismatchError",
    "MandateNotYetValidError",
    "MandatePayeeError",
    "MandateReplayError",
    "MandateSignatureError",
    "MandateTypeError",
    "MandateWidenedError",
    "NoAcceptablePaymentError",
    "PaymentAmountError",
    "PaymentAssetError",
    "PaymentExpiredError",
    "PaymentNetworkError",
    "PaymentNotYetValidError",
    "PaymentPayeeError",
    "PaymentPayloadError",
    "PaymentRefusedError",
    "PaymentReplayedError",
    "PaymentRequirementsError",
    "PaymentSchemeError",
    "PaymentSignatureError",
    "PaymentUnderfundedError",
    "PaymentVersionError",
    "PolicyImageMismatchError",
    "PolicyRefusedError",
    "PolicyTaskError",
    "PolicyTaskUnknownError",
    "PredictionError",
    "RecordError",
    "RecordUnavailableError",
    "RequestExpiredError",
    "RequestObjectSignatureError",
    "RequestObjectTypeError",
    "RequestUriError",
    "ResponseModeError",
    "ResponseStateError",
    "SdJwtBindingError",
    "SdJwtChainError",
    "SdJwtDisclosureError",
    "SdJwtError",
    "SdJwtExpiredError",
    "SdJwtIssuerError",
    "SdJwtNotYetValidError",
    "SdJwtSignatureError",
    "SettlementError",
    "StatusListError",
    "StatusListExpiredError",
    "StatusListFormatError",
    "StatusListIndexError",
    "StatusListSignatureError",
    "StatusListTypeError",
    "TaskFeeError",
    "TradeError",
    "TradingError",
    "TransactionDataError",
    "TransactionDataHashError",
    "VaultError",
    "VaultInputError",
    "VaultRefusedError",
    "WalletNonceError",
    "X402Error",
]
