"""Biomarker discovery: screening with FDR, the 11-check battery, labels, incremental value."""
