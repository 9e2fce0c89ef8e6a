"""The pure core: events, run summaries, the diff, outage steps and status text. No I/O."""
