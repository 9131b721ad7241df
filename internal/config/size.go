package config

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v4"
)

// Size is a number of bytes. In YAML it is a whole number of bytes (1048576)
// or a whole number with a unit (100MB, 512KiB, "1 GB"). Units are binary
// and case-insensitive: KB and KiB both mean 1024 bytes, MB and MiB
// 1024*1024, GB and GiB 1024*1024*1024. Binary, because the limits a Size is
// held against are: the "100 MB" Salesforce accepts per upload is 100 MiB.
type Size int64

// Units of Size.
const (
	Byte Size = 1
	KiB       = 1024 * Byte
	MiB       = 1024 * KiB
	GiB       = 1024 * MiB
)

var sizeUnits = map[string]Size{
	"": Byte, "b": Byte,
	"kb": KiB, "kib": KiB,
	"mb": MiB, "mib": MiB,
	"gb": GiB, "gib": GiB,
}

// ParseSize reads a size written as in the YAML, such as "100MB" or "1024".
func ParseSize(s string) (Size, error) {
	s = strings.TrimSpace(s)
	digits := strings.TrimLeft(s, "0123456789")
	number, unit := s[:len(s)-len(digits)], strings.TrimSpace(digits)
	if number == "" {
		return 0, fmt.Errorf("size %q: want a whole number of bytes, optionally with a unit (B, KB, MB, GB, KiB, MiB, GiB)", s)
	}
	scale, ok := sizeUnits[strings.ToLower(unit)]
	if !ok {
		return 0, fmt.Errorf("size %q: unit %q is not one of B, KB, MB, GB, KiB, MiB, GiB", s, unit)
	}
	n, err := strconv.ParseInt(number, 10, 64)
	if err != nil || n > math.MaxInt64/int64(scale) {
		return 0, fmt.Errorf("size %q is too large", s)
	}
	return Size(n) * scale, nil
}

// String writes s in the largest binary unit that divides it: 100MiB,
// 1500B.
func (s Size) String() string {
	for _, u := range []struct {
		size Size
		name string
	}{{GiB, "GiB"}, {MiB, "MiB"}, {KiB, "KiB"}} {
		if s != 0 && s%u.size == 0 {
			return strconv.FormatInt(int64(s/u.size), 10) + u.name
		}
	}
	return strconv.FormatInt(int64(s), 10) + "B"
}

// UnmarshalYAML implements yaml.Unmarshaler.
func (s *Size) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return errors.New("a size must be a scalar")
	}
	v, err := ParseSize(n.Value)
	if err != nil {
		return err
	}
	*s = v
	return nil
}
