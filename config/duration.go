package config

import (
	"fmt"
	"time"
)

// Duration is a time.Duration written in TOML as a Go duration string: "10s",
// "500ms", "1m30s". The integer 0 is accepted as "0s".
type Duration struct{ time.Duration }

// UnmarshalText parses a Go duration string.
func (d *Duration) UnmarshalText(text []byte) error {
	v, err := time.ParseDuration(string(text))
	if err != nil {
		return fmt.Errorf("invalid duration %q: write a number with a unit, like \"10s\" or \"500ms\"", text)
	}
	d.Duration = v
	return nil
}

// MarshalText writes d as a Go duration string.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.Duration.String()), nil }
