"""The operators' state from the BLSRegistry on anvil (offchain/da/network/operators.py): the disperser assigns
chunks from the registry's stakes at the batch's reference block, a stake change after that block changes
nothing, and a validator whose view differs (or a batch assigned from another view) is refused."""

from __future__ import annotations

import time

import pytest

from offchain.abi import WAD
from offchain.chain.bls_registry import BLS_REGISTRY_READ_ABI, BLSRegistryReader
from offchain.chain.deploy import deploy_core
from offchain.da.errors import NetworkConfigError, NodeRequestError, OperatorStateError
from offchain.da.network.assignment import BlobParams, assignments_for_blob
from offchain.da.network.config import operators_config
from offchain.da.network.disperser import Disperser, bundle_for
from offchain.da.network.metadata import BlobStatus, MetadataStore
from offchain.da.network.node import NodeState, ValidatorNode
from offchain.da.network.operators import RegistryOperators, StaticOperators
from offchain.da.network.service import node_app
from offchain.httpservice import ServiceServer
from offchain.store import Store
from tests.contracts.support import BLS_SET, TEST_CONFIG, BLSWorld, World
from tests.offchain.da.network.support import DISPERSER_KEY, encoded_blob, encoder, store_request

QUORUMS = {0: (BLS_SET, 0), 1: (BLS_SET, 1)}
STAKES = [(10, 40), (20, 10), (30, 20), (50, 30)]  # TKA, TKB deposits (WAD) of the 4 operators: unequal


@pytest.fixture(scope="module")
def dareg(project, chain, accounts):
    w = World(project, chain, accounts, deploy_core(project, accounts[0], TEST_CONFIG))
    world = BLSWorld(w, project, chain, accounts)
    world.ops = [world.operator(stake_a=a * WAD, stake_b=b * WAD) for a, b in STAKES]
    chain.mine(2)
    return world


@pytest.fixture
def reader(dareg, networks):
    return BLSRegistryReader(networks.provider.uri, dareg.reg.address)


def chain_stakes(dareg) -> dict[int, dict[bytes, int]]:
    """Each quorum's stakes as the AllocationManager reports them now, by operator id."""
    rows = dareg.stakes_of(dareg.ops)
    ids = [dareg.sk[op.address].public_key().operator_id for op in dareg.ops]
    return {q: {oid: row[q] for oid, row in zip(ids, rows, strict=True)} for q in (0, 1)}


def node_network(dareg) -> NodeState:
    """The validators' file view: the disperser's address, no stakes (the registry gives them)."""
    from eth_keys import keys as eth_keys

    return NodeState(
        {}, {0: eth_keys.PrivateKey(DISPERSER_KEY).public_key.to_checksum_address()}, BlobParams()
    )


def test_reader_abi_is_the_contracts(project) -> None:
    compiled = {e["name"]: e for e in project.BLSRegistry.contract_type.model_dump(mode="json")["abi"]
                if e.get("type") == "function"}  # fmt: skip
    for view in BLS_REGISTRY_READ_ABI:
        got = compiled[view["name"]]
        assert [i["type"] for i in got["inputs"]] == [i["type"] for i in view["inputs"]]
        assert [o["type"] for o in got["outputs"]] == [o["type"] for o in view["outputs"]]


def test_state_at_a_block_is_the_registrys(dareg, reader, chain) -> None:
    source = RegistryOperators(reader, QUORUMS, reference_block_offset=1)
    ref = source.reference_block()
    assert ref == chain.blocks.head.number - 1
    state = source.state_at(ref)
    want = chain_stakes(dareg)
    assert state.reference_block == ref and state.stakes == want
    assert len(set(want[0].values())) == 4 and want[0] != want[1]  # unequal, and per quorum
    assert state.public_keys == {dareg.sk[op.address].public_key().operator_id: dareg.sk[op.address].public_key()
                                 for op in dareg.ops}  # fmt: skip
    with pytest.raises(OperatorStateError, match="not a mined block"):
        source.state_at(chain.blocks.head.number + 5)
    with pytest.raises(OperatorStateError, match="below the reference block offset"):
        RegistryOperators(reader, QUORUMS, reference_block_offset=10**9).reference_block()
    with pytest.raises(OperatorStateError, match="stake quorums, not index 3"):
        RegistryOperators(reader, {0: (BLS_SET, 3)}).state_at(ref)
    assert RegistryOperators(reader, QUORUMS).state_at(1).stakes == {}  # before any registration


class MissingKey(BLSRegistryReader):
    """The real reader that loses one KeyRegistered log (as a node with a pruned log index would)."""

    def registered_keys(self, set_id, to_block):
        keys = super().registered_keys(set_id, to_block)
        keys.pop(sorted(keys)[0])
        return keys


def test_a_missed_member_is_refused_not_ignored(dareg, networks, chain) -> None:
    source = RegistryOperators(MissingKey(networks.provider.uri, dareg.reg.address), QUORUMS)
    with pytest.raises(OperatorStateError, match="add up to .*the registry's total"):
        source.state_at(chain.blocks.head.number)


def serve_nodes(dareg, reader, tmp_path, stale_blocks=300):
    nodes, servers, stores = {}, [], []
    for i, op in enumerate(dareg.ops):
        sk = dareg.sk[op.address]
        store = Store([str(tmp_path / f"v{i}")])
        node = ValidatorNode(sk, node_network(dareg), encoder(), store, stale_blocks=stale_blocks,
                             operators=RegistryOperators(reader, QUORUMS))  # fmt: skip
        srv = ServiceServer(node_app(node), log_level="warning").__enter__()
        nodes[node.operator_id], stores = node, [*stores, store]
        servers.append(srv)
    return nodes, servers, stores


def stop(servers, stores) -> None:
    for s in servers:
        s.__exit__(None, None, None)
    for s in stores:
        s.close()


def disperse(d: Disperser, seed: int) -> tuple:
    blob = encoded_blob(seed, timestamp=time.time_ns())
    d.disperse_blob(blob.raw, blob.header, blob.signature)
    assert d.run_batch()
    got = d.db.blob(blob.header.blob_key())
    assert got["status"] == BlobStatus.COMPLETE, got["reason"]
    return blob, got["signed_batch"]["header"]["reference_block_number"]


def stored_as(nodes, blob, stakes) -> None:
    """Every validator holds exactly the chunks assignment.py gives it from ``stakes``."""
    want = assignments_for_blob(stakes, BlobParams(), [0, 1])
    for oid, node in nodes.items():
        assert bytes(node.table.get(blob.header.blob_key())) == bundle_for(blob.chunks, want[oid])


def test_disperser_assigns_from_the_registry_at_the_reference_block(dareg, reader, chain, tmp_path) -> None:
    nodes, servers, stores = serve_nodes(dareg, reader, tmp_path)
    urls = {oid: s.url for oid, s in zip(nodes, servers, strict=True)}
    try:
        before = chain_stakes(dareg)
        source = RegistryOperators(reader, QUORUMS, reference_block_offset=1)
        d = Disperser(DISPERSER_KEY, 0, encoder(), {}, urls, {}, MetadataStore(str(tmp_path / "m.db")),
                      operators=source)  # fmt: skip
        blob, ref = disperse(d, 1)
        assert ref == chain.blocks.head.number - 1
        stored_as(nodes, blob, before)

        # the largest operator adds stake after that reference block
        op = dareg.ops[3]
        dareg.w.deposit(op, "TKA", 100 * WAD)
        dareg.reg.updateOperators(BLS_SET, [op], sender=dareg.w.owner)
        after = chain_stakes(dareg)
        assert after != before
        # a disperser whose reference block is still the old one: the same assignment, the validators agree
        pinned = RegistryOperators(reader, QUORUMS, reference_block_offset=chain.blocks.head.number - ref)
        d.operators = pinned
        old, ref_old = disperse(d, 2)
        assert ref_old == ref
        stored_as(nodes, old, before)
        # the head's reference block: the new stakes
        d.operators = source
        chain.mine(1)
        new, ref_new = disperse(d, 3)
        assert ref_new > ref
        stored_as(nodes, new, after)
        assert assignments_for_blob(after, BlobParams(), [0, 1]) != assignments_for_blob(
            before, BlobParams(), [0, 1]
        )
        d.db.close()
    finally:
        stop(servers, stores)


def test_a_validator_refuses_another_view(dareg, reader, chain, tmp_path) -> None:
    keys = [dareg.sk[op.address] for op in dareg.ops]
    oid = keys[3].public_key().operator_id
    store = Store([str(tmp_path / "v")])
    node = ValidatorNode(keys[3], node_network(dareg), encoder(), store, stale_blocks=4,
                         operators=RegistryOperators(reader, QUORUMS))  # fmt: skip
    head = chain.blocks.head.number
    chained = NodeState(chain_stakes(dareg), node.state.dispersers, BlobParams())
    equal = NodeState(
        {q: dict.fromkeys(chained.stakes[q], 1) for q in (0, 1)}, node.state.dispersers, BlobParams()
    )
    blob = encoded_blob(7, timestamp=time.time_ns())
    # a disperser whose view is the network file's equal stakes: chunks at indices that are not the chain's assignment
    with pytest.raises(NodeRequestError, match="assigned|do not verify") as err:
        node.store_chunks(store_request([blob], equal, oid, rbn=head))
    assert err.value.status == 400 and not node.table.exists(blob.header.blob_key())
    with pytest.raises(NodeRequestError, match="ahead of the chain head") as err:
        node.store_chunks(store_request([blob], chained, oid, rbn=head + 3))
    assert err.value.status == 400
    chain.mine(6)
    with pytest.raises(NodeRequestError, match="stale reference block") as err:
        node.store_chunks(store_request([blob], chained, oid, rbn=head))
    assert err.value.status == 409
    node.store_chunks(store_request([blob], chained, oid, rbn=chain.blocks.head.number - 1))
    assert node.table.exists(blob.header.blob_key())
    # and the reverse: a validator on the file's equal stakes refuses the chain-assigned batch
    static = ValidatorNode(keys[3], equal, encoder(), Store([str(tmp_path / "w")]))
    with pytest.raises(NodeRequestError, match="assigned|do not verify"):
        static.store_chunks(
            store_request([encoded_blob(8, timestamp=time.time_ns())], chained, oid, rbn=head)
        )
    store.close()


def test_static_source_is_the_network_file() -> None:
    st = StaticOperators({0: {b"\x01" * 32: 5}}, None, 100)
    assert st.reference_block() == 100 and st.head() is None
    assert st.state_at(7).stakes == {0: {b"\x01" * 32: 5}} and st.state_at(7).reference_block == 7


@pytest.mark.parametrize(
    ("obj", "match"),
    [
        ({"rpc": "http://x", "registry": "0x12"}, "expected"),
        ({"rpc": "http://x", "registry": "0x12", "quorums": {"0": {"operator_set": 1}}}, "20-byte"),
        ({"rpc": "ftp://x", "registry": "0x" + "11" * 20, "quorums": {"0": {"operator_set": 1}}}, "http"),
        ({"rpc": "http://x", "registry": "0x" + "11" * 20, "quorums": {}}, "quorums"),
        ({"rpc": "http://x", "registry": "0x" + "11" * 20, "quorums": {"300": {"operator_set": 1}}}, r"\[300\]"),
        ({"rpc": "http://x", "registry": "0x" + "11" * 20, "quorums": {"0": {"set": 1}}}, "operator_set"),
        ({"rpc": "http://x", "registry": "0x" + "11" * 20, "quorums": {"0": {"operator_set": 1, "stake_index": 9}}},
         "stake_index"),
        ({"rpc": "http://x", "registry": "0x" + "11" * 20, "quorums": {"0": {"operator_set": 1}},
          "reference_block_offset": -1}, "reference_block_offset"),
    ],
)  # fmt: skip
def test_operators_config_errors(obj, match) -> None:
    with pytest.raises(NetworkConfigError, match=match):
        operators_config(obj)


def test_operators_config() -> None:
    cfg = operators_config({"rpc": "http://127.0.0.1:8545", "registry": "0x" + "11" * 20,
                            "quorums": {"0": {"operator_set": 5}, "1": {"operator_set": 5, "stake_index": 1}}})  # fmt: skip
    assert cfg.quorums == {0: (5, 0), 1: (5, 1)} and cfg.reference_block_offset == 75


RECENCY = 20


def test_put_and_get_check_the_certificate_on_chain(
    dareg, reader, chain, project, accounts, networks, tmp_path
) -> None:
    """A real dispersal through registry-backed validators; the certificate passes the deployed
    EigenDACertVerifier's checkDACert (all signing, then one validator down: a non-signer); an altered
    signature and a reference block past the recency window are refused with their status."""
    import copy

    from offchain.chain.da_contracts import CertVerifierClient
    from offchain.chain.deploy import CertVerifierParams, deploy_cert_verifier
    from offchain.da.errors import CertificateRejectedError
    from offchain.da.network import client
    from offchain.da.network.service import disperser_app
    from tests.offchain.da.network.support import CLIENT_KEY

    cv = deploy_cert_verifier(project, accounts[0], accounts[1].address, dareg.reg.address, BLS_SET,
                              CertVerifierParams(recency_window_blocks=RECENCY))  # fmt: skip
    checker = CertVerifierClient(networks.provider.uri, cv.address)
    nodes, servers, stores = serve_nodes(dareg, reader, tmp_path)
    urls = {oid: s.url for oid, s in zip(nodes, servers, strict=True)}
    source = RegistryOperators(reader, QUORUMS, reference_block_offset=1)
    d = Disperser(
        DISPERSER_KEY, 0, encoder(), {}, urls, {}, MetadataStore(str(tmp_path / "m.db")), operators=source
    )
    d.start()
    try:
        with ServiceServer(disperser_app(d), log_level="warning") as srv:
            cert = client.put(
                srv.url, b"checked on chain", CLIENT_KEY, (0, 1), cert_checker=checker, timeout_s=120
            )
            assert checker.check_da_cert(cert) == 1
            assert cert["signed_batch"]["attestation"]["registry_signature"]["non_signer_pubkeys"] == []
            payload, served = client.get(cert, chain_stakes(dareg), urls, encoder(), cert_checker=checker)
            assert payload == b"checked on chain" and served.served_by == "validators"

            servers.pop(0).__exit__(None, None, None)  # the smallest operator down: a non-signer
            cert2 = client.put(
                srv.url, b"one validator down", CLIENT_KEY, (0, 1), cert_checker=checker, timeout_s=120
            )
            assert len(cert2["signed_batch"]["attestation"]["registry_signature"]["non_signer_pubkeys"]) == 1

            bad = copy.deepcopy(cert)
            bad["signed_batch"]["attestation"]["registry_signature"]["sigma"] = ["0x1", "0x2"]
            with pytest.raises(CertificateRejectedError, match=r"status 6 \(invalid certificate\)") as err:
                client.check_onchain(bad, checker)
            assert err.value.status == 6
            chain.mine(RECENCY + 1)
            with pytest.raises(CertificateRejectedError, match="status 8 .reference block not recent") as err:
                client.get(cert, chain_stakes(dareg), urls, encoder(), cert_checker=checker)
            assert err.value.status == 8
    finally:
        d.stop()
        d.db.close()
        stop(servers, stores)


def test_cert_verifier_options_go_together(tmp_path) -> None:
    from tests.offchain.da.network.support import CLIENT_KEY, eigen

    (tmp_path / "p.txt").write_bytes(b"x")
    (tmp_path / "k").write_text(CLIENT_KEY.hex())
    r = eigen("put", str(tmp_path / "p.txt"), "--disperser", "http://127.0.0.1:9", "--key", str(tmp_path / "k"),
              "--cert-verifier", "0x" + "11" * 20)  # fmt: skip
    assert r.returncode == 2 and b"--cert-verifier and --rpc go together" in r.stderr
