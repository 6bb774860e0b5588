package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Size is a byte count written in TOML as a string with an optional binary unit,
// "64MiB", "1GiB", "16KiB", "1024", or as an integer number of bytes. Units are
// B, KiB, MiB, GiB, TiB, and K, M, G, T as in my.cnf (all powers of 1024, any case).
// KB, MB, GB and TB are refused as ambiguous (1000 or 1024?).
type Size int64

// Byte-size units.
const (
	KiB Size = 1 << (10 * (iota + 1))
	MiB
	GiB
	TiB
)

var sizeUnits = map[string]Size{
	"": 1, "b": 1,
	"k": KiB, "kib": KiB,
	"m": MiB, "mib": MiB,
	"g": GiB, "gib": GiB,
	"t": TiB, "tib": TiB,
}

// UnmarshalText parses a size such as "64MiB" or "1024".
func (s *Size) UnmarshalText(text []byte) error {
	str := strings.TrimSpace(string(text))
	i := 0
	for i < len(str) && str[i] >= '0' && str[i] <= '9' {
		i++
	}
	if i == 0 {
		return fmt.Errorf("invalid size %q: write a whole number of bytes with an optional unit, like \"64MiB\" or \"1024\"", text)
	}
	unitText := strings.ToLower(strings.TrimSpace(str[i:]))
	unit, ok := sizeUnits[unitText]
	if !ok {
		switch unitText {
		case "kb", "mb", "gb", "tb":
			return fmt.Errorf("invalid size %q: unit %q is ambiguous, use KiB, MiB, GiB or TiB (powers of 1024)", text, str[i:])
		}
		return fmt.Errorf("invalid size %q: unknown unit %q, use B, KiB, MiB, GiB or TiB", text, str[i:])
	}
	n, err := strconv.ParseInt(str[:i], 10, 64)
	if err != nil || n > math.MaxInt64/int64(unit) {
		return fmt.Errorf("invalid size %q: too large", text)
	}
	*s = Size(n) * unit
	return nil
}

// MarshalText writes s with the largest binary unit that divides it exactly.
func (s Size) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// String formats s like "64MiB", or as plain bytes ("1000") when no unit divides it.
func (s Size) String() string {
	for _, u := range []struct {
		size Size
		name string
	}{{TiB, "TiB"}, {GiB, "GiB"}, {MiB, "MiB"}, {KiB, "KiB"}} {
		if s != 0 && s%u.size == 0 {
			return strconv.FormatInt(int64(s/u.size), 10) + u.name
		}
	}
	return strconv.FormatInt(int64(s), 10)
}
