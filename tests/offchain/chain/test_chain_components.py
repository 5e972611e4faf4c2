"""offchain.chain.components: choosing components, the parameters printed and recorded, and a
recorded deployment reused (with a warning for each differing parameter) or replaced."""

import json
from dataclasses import replace

import pytest

from offchain.chain.components import (
    COMPONENTS,
    Parameters,
    configured_networks,
    deploy_components,
    differences,
    load_parameters,
    parse_components,
)
from offchain.chain.deploy import (
    ComputeAVSConfig,
    DeployConfig,
    InferenceDisputesConfig,
    TaskMailboxConfig,
    load_config,
)
from offchain.chain.errors import DeployConfigError

CONFIG = DeployConfig(
    withdrawal_delay_blocks=20,
    deallocation_delay_blocks=20,
    allocation_configuration_delay_blocks=25,
    slash_resolution_delay_blocks=10,
    mock_tokens=(("Token A", "TKA"),),
    eigen_initial_supply=10**24,
    challenge_bond=10**19,
    challenge_window_blocks=5,
    fork_timelock_blocks=3,
    beigen_extra_withdrawal_delay_blocks=10,
)


@pytest.mark.parametrize(
    "text, want",
    [
        (None, COMPONENTS),
        ("all", COMPONENTS),
        ("compute-avs", ("core", "compute-avs")),
        ("inference-disputes, token", ("core", "token", "inference-disputes")),
        ("core", ("core",)),
        ("task-mailbox", ("core", "compute-avs", "task-mailbox")),
    ],
)
def test_parse_components(text, want):
    assert parse_components(text) == want


@pytest.mark.parametrize("text, match", [("bogus", "unknown components"), (" , ", "at least one")])
def test_parse_components_refuses_bad_names(text, match):
    with pytest.raises(DeployConfigError, match=match):
        parse_components(text)


def test_parameters_lines_cover_each_chosen_component():
    p = Parameters(load_config("mainnet"))
    lines = p.lines(COMPONENTS)
    assert "core.withdrawal_delay_blocks = 100800" in lines
    assert "core.challenge_bond = 100000000000000000000000" in lines
    assert any(ln.startswith("compute_avs.fault_wad = ") for ln in lines)
    assert any(ln.startswith("inference_disputes.challenge_bond_wei = ") for ln in lines)
    core_only = p.lines(("core",))
    assert not any(
        ln.startswith(("compute_avs.", "inference_disputes.", "core.challenge_bond")) for ln in core_only
    )


def test_configured_networks():
    assert {"local", "sepolia"} <= configured_networks()
    assert "mainnet" not in configured_networks()


def test_differences_name_each_changed_parameter():
    p = Parameters(CONFIG)
    recorded = p.as_dict()
    assert differences(recorded, p, COMPONENTS) == []
    q = replace(
        p,
        core=replace(CONFIG, withdrawal_delay_blocks=30),
        inference_disputes=InferenceDisputesConfig(slash_wad=1),
    )
    diff = differences(recorded, q, COMPONENTS)
    assert diff == [
        "core.withdrawal_delay_blocks: 20 -> 30",
        f"inference_disputes.slash_wad: {InferenceDisputesConfig().slash_wad!r} -> 1",
    ]
    assert differences(recorded, q, ("core",)) == ["core.withdrawal_delay_blocks: 20 -> 30"]
    assert differences(None, p, COMPONENTS) == ["the record holds no parameters"]


def test_deploy_chosen_components_then_all_then_changed(project, accounts, networks, tmp_path):
    record = tmp_path / "rec.json"
    kw = dict(record=record, provider=networks.provider)
    first = deploy_components(project, accounts[0], Parameters(CONFIG), ("compute-avs",), **kw)
    data = json.loads(record.read_text())
    assert first.deployed == ["core", "compute-avs"] and first.reused == []
    assert "compute_avs" in data and "inference_disputes" not in data and "eigen" not in data
    assert set(data["parameters"]) == {"core", "compute_avs"}
    compute = project.ComputeAVS.at(data["compute_avs"])
    assert compute.allocationManager() == data["allocation_manager"]
    reg = project.BLSRegistry.at(compute.blsRegistry())  # attached, so operators can join with BLS keys
    assert reg.avs() == compute.address and reg.allocationManager() == data["allocation_manager"]
    assert reg.rotationDelay() == ComputeAVSConfig().bls_rotation_delay_blocks

    second = deploy_components(project, accounts[0], Parameters(CONFIG), COMPONENTS, **kw)
    data2 = json.loads(record.read_text())
    assert second.reused == ["core", "compute-avs"]
    assert second.deployed == ["token", "inference-disputes", "task-mailbox"]
    assert second.differences == []
    assert (
        data2["compute_avs"] == data["compute_avs"]
        and data2["allocation_manager"] == data["allocation_manager"]
    )
    assert data2["eigen"] and data2["inference_disputes"]
    mailbox = project.TaskMailbox.at(data2["task_mailbox"])
    assert mailbox.computeAVS() == data["compute_avs"] and mailbox.taskSlasher() == data2["task_slasher"]

    changed = Parameters(replace(CONFIG, withdrawal_delay_blocks=30))
    third = deploy_components(project, accounts[0], changed, COMPONENTS, **kw)
    assert third.reused == ["core", "token", "compute-avs", "inference-disputes", "task-mailbox"]
    assert third.differences == ["core.withdrawal_delay_blocks: 20 -> 30"]
    # the record still describes what is on chain
    assert json.loads(record.read_text())["parameters"]["core"]["withdrawal_delay_blocks"] == 20

    fourth = deploy_components(project, accounts[0], changed, ("core",), redeploy=True, **kw)
    data4 = json.loads(record.read_text())
    assert fourth.deployed == ["core"] and data4["allocation_manager"] != data["allocation_manager"]
    assert fourth.core.delegation_manager.minWithdrawalDelayBlocks() == 30
    assert "compute_avs" not in data4 and data4["parameters"]["core"]["withdrawal_delay_blocks"] == 30


def test_token_needs_the_deployer_as_whitelister(project, accounts, networks):
    cfg = replace(CONFIG, strategy_whitelister=accounts[5].address)
    with pytest.raises(DeployConfigError, match="strategy_whitelister"):
        deploy_components(project, accounts[0], Parameters(cfg), ("token",))


def test_corrupt_record_is_a_typed_error(project, accounts, networks, tmp_path):
    record = tmp_path / "rec.json"
    record.write_text("{not json")
    with pytest.raises(DeployConfigError, match="corrupt"):
        deploy_components(
            project, accounts[0], Parameters(CONFIG), ("core",), record=record, provider=networks.provider
        )


def test_avs_parameters_come_from_the_configuration():
    main = load_parameters("mainnet")
    assert main.compute_avs == ComputeAVSConfig(
        enrolment_ttl_s=86400, fault_wad=10**17, metadata_uri="https://compute.example/avs.json"
    )
    assert (main.inference_disputes.challenge_bond_wei, main.inference_disputes.challenge_window_s) == (
        10**17,
        3600,
    )
    local = load_parameters("local")
    assert local.compute_avs.enrolment_ttl_s == 600
    assert local.compute_avs.fault_wad == 10**17  # not overridden: the default section's
    d = local.inference_disputes
    assert (d.challenge_bond_wei, d.challenge_window_s, d.resolution_window_s) == (10**16, 60, 60)
    assert local.core == load_config("local")
    # the task mailbox's section: the default's values, the local network's BLS windows
    assert main.task_mailbox == TaskMailboxConfig(
        fault_wad=10**17,
        metadata_uri="https://compute.example/tasks.json",
        bls_rotation_delay_blocks=7200,
        bls_max_staleness_blocks=7200,
    )
    assert local.task_mailbox == replace(
        main.task_mailbox, bls_rotation_delay_blocks=10, bls_max_staleness_blocks=100
    )
    lines = local.lines(COMPONENTS)
    assert "task_mailbox.bls_max_staleness_blocks = 100" in lines
    assert "compute_avs.enrolment_ttl_s = 600" in lines
    assert "inference_disputes.challenge_window_s = 60" in lines


_BASE = "default: {withdrawal_delay_blocks: 20, deallocation_delay_blocks: 20, allocation_configuration_delay_blocks: 25, slash_resolution_delay_blocks: 10"


@pytest.mark.parametrize(
    "text, match",
    [
        (_BASE + ", compute_avs: [1]}\n", "default.compute_avs must be a mapping"),
        (_BASE + ", compute_avs: {ttl: 5}}\n", r"unknown keys \['ttl'\] in compute_avs"),
        (
            _BASE + "}\nnetworks: {local: {inference_disputes: 7}}\n",
            "networks.local.inference_disputes must be a mapping",
        ),
        (_BASE + "}\nnetworks: [local]\n", "networks must be a mapping"),
        (_BASE + ", compute_avs: {enrolment_ttl_s: 0}}\n", r"compute_avs.enrolment_ttl_s must be .*got 0"),
        (_BASE + ", compute_avs: {enrolment_ttl_s: -5}}\n", "compute_avs.enrolment_ttl_s"),
        (_BASE + ", compute_avs: {enrolment_ttl_s: 4294967296}}\n", "compute_avs.enrolment_ttl_s"),
        (_BASE + ", compute_avs: {enrolment_ttl_s: true}}\n", "compute_avs.enrolment_ttl_s"),
        (_BASE + ", compute_avs: {fault_wad: 1000000000000000001}}\n", "compute_avs.fault_wad"),
        (_BASE + ", compute_avs: {metadata_uri: ''}}\n", "compute_avs.metadata_uri"),
        (_BASE + ", compute_avs: {metadata_uri: 5}}\n", "compute_avs.metadata_uri"),
        (_BASE + ", inference_disputes: {challenge_bond_wei: 0}}\n", "inference_disputes.challenge_bond_wei"),
        (
            _BASE + ", inference_disputes: {challenge_bond_wei: 1e18}}\n",
            "inference_disputes.challenge_bond_wei",
        ),
        (_BASE + ", inference_disputes: {challenge_bond_wei: " + str(2**224) + "}}\n", "challenge_bond_wei"),
        (
            _BASE + ", inference_disputes: {challenge_window_s: '60'}}\n",
            "inference_disputes.challenge_window_s",
        ),
        (
            _BASE + "}\nnetworks: {local: {inference_disputes: {resolution_window_s: -1}}}\n",
            "resolution_window_s",
        ),
        (_BASE + ", inference_disputes: {slash_wad: 0}}\n", "inference_disputes.slash_wad"),
        (_BASE + ", task_mailbox: [1]}\n", "default.task_mailbox must be a mapping"),
        (_BASE + ", task_mailbox: {fault: 1}}\n", r"unknown keys \['fault'\] in task_mailbox"),
        (_BASE + ", task_mailbox: {fault_wad: 0}}\n", "task_mailbox.fault_wad"),
        (_BASE + ", task_mailbox: {metadata_uri: ''}}\n", "task_mailbox.metadata_uri"),
        (
            _BASE + "}\nnetworks: {local: {task_mailbox: {bls_max_staleness_blocks: -1}}}\n",
            "task_mailbox.bls_max_staleness_blocks",
        ),
    ],
)
def test_bad_avs_parameters_are_typed_errors(tmp_path, text, match):
    p = tmp_path / "deploy.yaml"
    p.write_text(text)
    with pytest.raises(DeployConfigError, match=match):
        load_parameters("local", p)


def test_a_long_metadata_uri_is_refused():
    with pytest.raises(DeployConfigError, match="at most 1024 bytes"):
        InferenceDisputesConfig(metadata_uri="x" * 1025)


def test_configured_avs_parameters_are_deployed_and_recorded(project, accounts, networks, tmp_path):
    record = tmp_path / "rec.json"
    params = replace(load_parameters("local"), core=CONFIG)
    d = deploy_components(
        project,
        accounts[0],
        params,
        ("compute-avs", "inference-disputes", "task-mailbox"),
        record=record,
        provider=networks.provider,
    )
    avs, disputes = d.avs["compute_avs"], d.avs["inference_disputes"]
    mailbox = d.avs["task_mailbox"]
    assert project.TaskSlasher.at(d.avs["task_slasher"].address).FAULT_WAD() == 10**17
    mreg = project.BLSRegistry.at(mailbox.blsRegistry())
    assert (mreg.avs(), mreg.rotationDelay(), mreg.maxStaleness()) == (mailbox.address, 10, 100)
    assert (avs.ENROLMENT_TTL(), avs.FAULT_WAD()) == (600, 10**17)
    assert (disputes.CHALLENGE_BOND(), disputes.CHALLENGE_WINDOW(), disputes.RESOLUTION_WINDOW()) == (
        10**16,
        60,
        60,
    )
    rec = json.loads(record.read_text())["parameters"]
    assert rec["compute_avs"]["enrolment_ttl_s"] == 600
    assert rec["task_mailbox"]["bls_max_staleness_blocks"] == 100
    assert rec["inference_disputes"] == {
        "challenge_bond_wei": 10**16,
        "challenge_window_s": 60,
        "resolution_window_s": 60,
        "slash_wad": 10**17,
        "metadata_uri": "https://ai.example/avs.json",
        "bls_rotation_delay_blocks": 10,
        "bls_max_staleness_blocks": 100,
    }
    reg = project.BLSRegistry.at(disputes.blsRegistry())
    assert (reg.avs(), reg.rotationDelay(), reg.maxStaleness()) == (disputes.address, 10, 100)


_DA_OK = {"weth": "deploy"}


@pytest.mark.parametrize(
    "da, match",
    [
        ({"avs": "nobody"}, r"da.avs must be 'deployer' or a non-zero address: got 'nobody'"),
        ({"avs": "0x" + "00" * 20}, "da.avs must be"),
        ({"governance": 7}, "da.governance must be"),
        ({"operator_set_id": -1}, r"da.operator_set_id must be an integer in \[0, 2\^32\)"),
        ({"operator_set_id": 2**32}, "da.operator_set_id"),
        ({"operator_set_id": True}, "da.operator_set_id"),
        ({"bls_rotation_delay_blocks": -1}, "da.bls_rotation_delay_blocks"),
        ({"bls_max_staleness_blocks": 0}, "da.bls_max_staleness_blocks must be a block count"),
        ({"min_num_symbols": 0}, r"da.min_num_symbols must be an integer in \[1, 2\^64\)"),
        ({"price_wei_per_symbol": 0}, "da.price_wei_per_symbol"),
        ({"price_wei_per_symbol": 2**64}, "da.price_wei_per_symbol"),
        ({"price_wei_per_symbol": "447000000"}, "da.price_wei_per_symbol"),
        ({"price_wei_per_symbol": 4.47e8}, "da.price_wei_per_symbol"),
        ({"global_symbols_per_period": 0}, "da.global_symbols_per_period"),
        ({"price_update_cooldown_s": -1}, "da.price_update_cooldown_s must be seconds below 2"),
        ({"reservation_period_s": 0}, r"da.reservation_period_s must be seconds in \[1, 2\^64\)"),
        ({"global_rate_period_s": 0}, "da.global_rate_period_s"),
        (
            {"confirmation_threshold_pct": 101},
            r"da.confirmation_threshold_pct must be a percentage in \[1, 100\]",
        ),
        ({"confirmation_threshold_pct": 0}, "da.confirmation_threshold_pct"),
        ({"adversary_threshold_pct": 100}, r"da.adversary_threshold_pct must be a percentage in \[0, 100\)"),
        (
            {"confirmation_threshold_pct": 33},
            "da.confirmation_threshold_pct must exceed adversary_threshold_pct",
        ),
        ({"required_quorums": []}, "da.required_quorums must be 1 to 8 distinct quorum numbers"),
        ({"required_quorums": [0, 0]}, "da.required_quorums"),
        ({"required_quorums": [8]}, "da.required_quorums"),
        ({"required_quorums": [True]}, "da.required_quorums"),
        ({"required_quorums": "01"}, "da.required_quorums"),
        ({"recency_window_blocks": 0}, r"da.recency_window_blocks must be blocks in \[1, 2\^32\)"),
        (
            {"bls_max_staleness_blocks": 100},
            "da.bls_max_staleness_blocks must be at least recency_window_blocks",
        ),
        ({"blob_max_operators": 0}, "da.blob_max_operators"),
        ({"blob_chunks": 0}, "da.blob_chunks"),
        ({"blob_coding_rate": 256}, r"da.blob_coding_rate must be an integer in \[1, 255\]"),
        ({"blob_max_operators": 4000}, "EigenDA's security condition"),
        ({"blob_max_operators": 8192}, "EigenDA's security condition"),
        ({"weth": "nowhere"}, "da.weth must be 'deploy' or a non-zero address"),
        ({"fee_vault": 5}, "da.fee_vault must be 'none' or a non-zero address"),
        ({"operator_fee_bips": 10_001}, r"da.operator_fee_bips must be bips in \[0, 10000\]"),
        ({"operator_fee_recipient": "ops"}, "da.operator_fee_recipient must be"),
        ({"operator_fee_bips": 1}, "da.operator_fee_bips above 0 needs an operator_fee_recipient"),
        ({"price": 1}, r"unknown keys \['price'\] in da"),
        (
            {"grpc_host": "grpc://da.example"},
            "da.grpc_host: 'grpc://da.example' is not a host name or address",
        ),
        ({"grpc_host": ""}, "da.grpc_host"),
        ({"disperser_grpc_port": 0}, r"da.disperser_grpc_port: 0 is not a port in \[1, 65535\]"),
        ({"node_grpc_port": True}, "da.node_grpc_port: True is not a port"),
        ({"node_grpc_port": 65500}, "da.node_grpc_port: 65500 leaves no room for 64 validators"),
        (
            {"disperser_grpc_port": 9110},
            r"da.disperser_grpc_port: 9110 is inside the validators' range 9101\.\.9164",
        ),
    ],
)
def test_bad_da_parameters_are_typed_errors(tmp_path, da, match):
    """Each bad value of the da section is refused by load_parameters with its own error, naming the key."""
    import yaml

    p = tmp_path / "deploy.yaml"
    text = _BASE + "}\n" + yaml.safe_dump({"networks": {"local": {"da": {**_DA_OK, **da}}}})
    p.write_text(text)
    with pytest.raises(DeployConfigError, match=match):
        load_parameters("local", p)


def test_da_section_must_be_a_mapping(tmp_path):
    p = tmp_path / "deploy.yaml"
    p.write_text(_BASE + ", da: [1]}\n")
    with pytest.raises(DeployConfigError, match="default.da must be a mapping"):
        load_parameters("local", p)


def test_da_parameters_printed_only_when_chosen():
    p = load_parameters("local")
    assert "da.price_wei_per_symbol = 447000000" in p.lines(("core", "da"))
    assert "da.weth = deploy" in p.lines(("core", "da"))
    assert not any(ln.startswith("da.") for ln in p.lines(COMPONENTS))
    assert load_parameters("sepolia").da.weth == "deploy"  # mainnet's WETH has no code there
