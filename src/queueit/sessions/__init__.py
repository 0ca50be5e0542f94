"""Sessions (parties): create, join, leave, current state, host controls, presence, crowd skip."""
