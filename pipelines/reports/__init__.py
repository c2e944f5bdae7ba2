"""Read models the pages call: one module per page plus shared ones, aggregated in DuckDB."""
