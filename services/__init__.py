"""Everything a deployment needs around the graph: settings, stores, runs, API, CLI."""
