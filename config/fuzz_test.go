package config

import "testing"

// FuzzParse checks that no input makes Parse (the TOML mapping, the line scanner,
// the checks) panic, and that whatever it accepts passes Check.
func FuzzParse(f *testing.F) {
	f.Add([]byte(validT))
	f.Add([]byte(validT + "[[replicas]]\nname = \"r\"\naddress = \"h:1\"\n[replicas.tls]\nverify = false\n"))
	f.Add([]byte("a = \"\"\"\nx\n\"\"\"\nb = [\n1,\n]\n[c.'d'.\"e\"]\n"))
	f.Add([]byte("replicas = [{name = 1}]\nproxy = {listen = 5}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data, "")
		if err == nil {
			if err := c.Check(); err != nil {
				t.Fatalf("Parse accepted a config that Check refuses: %v", err)
			}
		}
		scanKeyLines(data)
	})
}
