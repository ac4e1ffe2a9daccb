"""Provision and run the local tools used to work on the hubfleet template."""
