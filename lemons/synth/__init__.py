"""The built-in catalogue's generator: MMA grooves rendered one stem at a time, mixed, written."""
