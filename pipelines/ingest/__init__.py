"""Loading exports: reading files, header mapping, staging, cases, hand-off events, countermeasures and the upload preview."""
