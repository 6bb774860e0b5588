// Package config owns tailgate's configuration: the TOML schema (see DESIGN.md,
// "Configuration"), its defaults, validation and the diff between two loaded
// configurations that a reload reports.
//
// Loading goes in three steps: start from [Default], lay the TOML file over it,
// then [Config.Check] the result. Every problem is collected and returned at once
// in an [*Errors], each with its dotted key ("replicas[1].name", 0-based index) and
// the line of the file it comes from where that is known, so `tailgate -check`
// can list everything that is wrong in one run.
//
// The TOML text is parsed by github.com/BurntSushi/toml into a generic tree, and
// this package maps the tree onto the typed structs itself, key by key: that way a
// type mismatch in one key ("max_connections = \"abc\"") does not hide the problems
// in the others, and unknown keys are found while walking. BurntSushi/toml v1.6.0
// keeps key positions private (and, for arrays of tables, only the last element's),
// so line numbers come from a small scan of the file text (lines.go) that follows
// table headers, array-of-tables indexes and dotted keys.
//
// The package is a leaf: it imports only the standard library and the TOML
// library, and holds no package-level mutable state.
package config
