"""The parts of `bench/scale.py`: the simulator in its own process (`simulator`), the
workspaces the channels belong to and the commands sent in them (`layout`), the measuring
window and what is read after it (`window`), and the printed tables (`report`)."""
