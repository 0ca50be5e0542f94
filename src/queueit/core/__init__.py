"""The shared core, one concept per module (docs/ARCHITECTURE.md lists them); it imports
nothing above it."""
