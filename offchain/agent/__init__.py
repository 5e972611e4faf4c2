"""The agent economy (docs/agent.md): x402 v2 payments (x402: messages and headers; evm: the exact
and upto schemes over EIP-3009; facilitator: /verify, /settle, /supported; server: the paying
middleware; client: a client that pays within a budget). The ERC-8004 registries and the
stablecoin are contracts/agent; their chain client is offchain.chain.agent."""
