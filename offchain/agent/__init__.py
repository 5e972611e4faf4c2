"""The agent economy (docs/agent.md): x402 v2 payments (x402: messages and headers; evm: the exact,
upto and verified schemes over EIP-3009; facilitator: /verify, /settle, /supported; server: the
paying middleware; client: a client that pays within a budget); ap2: AP2 mandates; a2a and
a2a_server: A2A agents paid through the x402 extension; history: an agent's record from the chain.
The ERC-8004 registries, the stablecoin, the escrow and the TaskValidator are contracts/agent;
their chain client is offchain.chain.agent."""
