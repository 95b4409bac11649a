"""How a run executes: planned jobs, cut into tasks, run by an executor in worker
processes, their results kept in a store as they come (see docs/architecture.md)."""
