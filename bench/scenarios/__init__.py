"""The benchmark scenarios; each has `run(ctx) -> ScenarioResult`."""
