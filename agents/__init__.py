"""The research graph: state, nodes, gates, strategies, prompts and the LLM client."""
