"""The report: paper tables, rliable statistics and figures from run directories."""
