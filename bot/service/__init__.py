"""The running service: what `eon-bot run` assembles (app), its edges to the outside world
(edges), the replicas' share of the work (fleet), and the polling of projects (poller, lanes,
names)."""
