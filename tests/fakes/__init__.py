"""Hand-written fakes of the ports the services' shells talk to, for unit tests (real services in integration tests)."""
