"""End-to-end tests: the real `eon-bot run` process against the simulator and FakeSlack."""
