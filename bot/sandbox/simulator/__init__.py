"""The EON Tuner simulator: a plan, a schedule, trial documents and an HTTP server."""
