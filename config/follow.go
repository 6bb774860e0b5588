package config

import "fmt"

// Promoted returns a copy of c in which the replica named name is the primary and the
// old primary takes that replica's place among the replicas (its name, weight and slot),
// each server keeping its own address and TLS setup: what tailgate runs after it followed
// a promotion (primary.follow_promotion). Promoting the same name again swaps them back.
func (c *Config) Promoted(name string) (*Config, error) {
	n := c.clone()
	for i := range n.Replicas {
		r := &n.Replicas[i]
		if r.Name != name {
			continue
		}
		r.Address, n.Primary.Address = n.Primary.Address, r.Address
		r.TLS, n.Primary.TLS = n.Primary.TLS, r.TLS
		return n, nil
	}
	return nil, fmt.Errorf("no replica named %q", name)
}

// SameServers reports whether a and b name the same primary and the same replicas (by
// name and address): whether a config file still describes the servers it described
// when tailgate began following promotions from it.
func SameServers(a, b *Config) bool {
	if a.Primary.Address != b.Primary.Address || len(a.Replicas) != len(b.Replicas) {
		return false
	}
	addrs := make(map[string]string, len(a.Replicas))
	for _, r := range a.Replicas {
		addrs[r.Name] = r.Address
	}
	for _, r := range b.Replicas {
		if addr, ok := addrs[r.Name]; !ok || addr != r.Address {
			return false
		}
	}
	return true
}
