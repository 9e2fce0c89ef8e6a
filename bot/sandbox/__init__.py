"""Tools for demos and tests: the simulator, the Slack stand-in, the demo.

The product never imports these at module level."""
