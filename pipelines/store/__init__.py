"""The case store: settings, the error family, DuckDB connections and schema, the shared filters and the business definitions every page shares."""
