"""anvil's states directories (offchain/chain/anvil.py): one per process, swept when its owner is gone; ape's
lookups of what cannot change, asked once."""

import os
import subprocess
import sys

from offchain.chain import anvil


def _dir(folder, pid):
    d = folder / f"{anvil.PREFIX}{pid}-abc123"
    (d / "anvil-state-x").mkdir(parents=True)
    (d / "anvil-state-x" / "block").write_bytes(b"\0" * 1024)
    return d


def test_sweep_removes_only_the_directories_of_processes_that_are_gone(tmp_path):
    done = subprocess.Popen([sys.executable, "-c", "pass"])
    done.wait()
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        gone = _dir(tmp_path, done.pid)
        mine = _dir(tmp_path, os.getpid())
        other = _dir(tmp_path, alive.pid)
        old = tmp_path / f"{anvil.PREFIX}q1w2e3"  # a name without a pid: its owner is unknown
        old.mkdir()
        unrelated = tmp_path / "eigen-da-cache-1"
        unrelated.mkdir()
        assert anvil.sweep_states(str(tmp_path)) == [str(gone)]
        assert not gone.exists()
        assert mine.exists() and other.exists() and old.exists() and unrelated.exists()
        assert anvil.sweep_states(str(tmp_path)) == []
    finally:
        alive.kill()
        alive.wait()
    assert anvil.sweep_states(str(tmp_path)) == [str(other)]


def test_ape_asks_once_for_what_cannot_change_and_answers_the_same(chain, networks):
    """ape_without_repeated_lookups (applied by tests/conftest.py): the chain id, the transaction type and
    the block gas limit come from a cache, with the values ape itself finds; a new gas limit is seen."""
    from ape_ethereum.ecosystem import Ethereum

    anvil.ape_without_repeated_lookups()  # a second application changes nothing
    provider = chain.provider
    w3 = provider.web3
    assert w3.provider.cache_allowed_requests and w3.provider.cacheable_requests == {"eth_chainId"}
    sent = []
    send = w3.provider._make_request

    def counting(method, request_data):
        sent.append(method)
        return send(method, request_data)

    w3.provider._make_request = counting
    try:
        chain_id = int(w3.provider.make_request("eth_chainId", [])["result"], 16)
        assert w3.eth.chain_id == provider.chain_id == chain_id
        sent.clear()
        for _ in range(3):
            assert w3.eth.chain_id == provider.chain_id == chain_id
        assert "eth_chainId" not in sent  # answered from the connection's cache
        ecosystem = networks.ethereum
        uncached = Ethereum.default_transaction_type.fget.__wrapped__(ecosystem)
        assert ecosystem.default_transaction_type == uncached == ecosystem.default_transaction_type
        limit = int(w3.eth.get_block("latest")["gasLimit"])
        assert provider.max_gas == limit
        sent.clear()
        assert provider.max_gas == limit
        assert sent == []  # remembered
        snap = chain.snapshot()
        try:
            assert provider.set_block_gas_limit(limit - 1_000)
            chain.mine(1)
            assert provider.max_gas == limit - 1_000  # a new limit is fetched again
        finally:
            chain.restore(snap)
            provider.set_block_gas_limit(limit)
        assert provider.max_gas == limit
    finally:
        del w3.provider._make_request


def test_the_loopback_node_s_sessions_do_not_read_the_environment(chain, monkeypatch):
    """The test chain's HTTP sessions (one per thread) skip requests' environment lookups (proxies, netrc):
    a proxy set in the environment is not used for the loopback anvil; only a loopback node's are changed."""
    import threading

    w3 = chain.provider.web3
    assert anvil._loopback(w3.provider.endpoint_uri)
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # a dead proxy: a request through it would fail
    monkeypatch.setenv("NO_PROXY", "")
    heads = [w3.eth.block_number]
    sessions = []

    def other_thread():
        heads.append(w3.eth.block_number)
        sessions.append(
            w3.provider._request_session_manager.cache_and_return_session(w3.provider.endpoint_uri)
        )

    t = threading.Thread(target=other_thread)
    t.start()
    t.join()
    assert len(heads) == 2 and sessions[0].trust_env is False
    assert not anvil._loopback("http://rpc.example:8545") and not anvil._loopback(None)


def test_a_contract_seen_with_code_is_not_asked_again_until_a_snapshot_is_restored(chain, accounts, project):
    """ape's code check before each contract call (ape_without_repeated_lookups): one eth_getCode per contract
    until a request that can remove code; after a restore that removed the contract, ape's own
    ContractNotFoundError again, for a call and a transaction."""
    import pytest
    from ape.exceptions import ContractNotFoundError

    w3 = chain.provider.web3
    sent = []
    send = w3.provider._make_request

    def counting(method, request_data):
        sent.append(method)
        return send(method, request_data)

    snap = chain.snapshot()
    w3.provider._make_request = counting
    try:
        token = accounts[0].deploy(project.MockERC20, "Token", "TK")
        sent.clear()
        assert token.symbol() == "TK"
        assert sent == ["eth_getCode", "eth_call"]  # the first call asks for the code
        sent.clear()
        assert token.name() == "Token" and token.balanceOf(accounts[0]) == 0
        assert sent == ["eth_call", "eth_call"]  # later ones do not
        sent.clear()
        token.mint(accounts[1], 5, sender=accounts[1])  # nor does a transaction before it is sent
        assert sent[: sent.index("eth_sendRawTransaction")].count("eth_getCode") == 0
        assert token.balanceOf(accounts[1]) == 5
        assert token.address in w3.provider.eigen_code_seen
        chain.restore(snap)
        snap = None
        assert w3.provider.eigen_code_seen == set()  # forgotten on the restore
        sent.clear()
        with pytest.raises(ContractNotFoundError):
            token.symbol()
        with pytest.raises(ContractNotFoundError):
            token.mint(accounts[1], 5, sender=accounts[1])
        assert sent.count("eth_getCode") == 2 and "eth_call" not in sent
    finally:
        del w3.provider._make_request
        if snap is not None:
            chain.restore(snap)
