"""Deploy a fleet of JupyterHubs: the logic behind this repository's invoke tasks."""
