package config

import "testing"

func TestScanKeyLines(t *testing.T) {
	doc := `# comment [not.a.table]
top = 1
[proxy]
listen = "a # not a comment"
  max_connections=3   # comment
"quoted.key" = 1
'lit' = 2
multi = """
line 2 of the string
fake = 1
"""
arr = [
  "x", # comment ]
  "y",
]
inline = { a = 1, b = { c = 2 } }
[proxy.tls]
cert = 'c'
[[replicas]]
name = "r1"
tls.ca = "x"
[[replicas]]
name = """r2"""
[replicas.tls]
verify = false
[[replicas.extra]]
k = 1
[[replicas.extra]]
k = 2
[ lag ]
max = '''
'''
recover = "1s"
[a."b.c"]
d = 1
`
	lines := scanKeyLines([]byte(doc))
	cases := []struct {
		key  string
		want int
	}{
		{"top", 2},
		{"proxy", 3},
		{"proxy.listen", 4},
		{"proxy.max_connections", 5},
		{`proxy."quoted.key"`, 6},
		{"proxy.lit", 7},
		{"proxy.multi", 8},
		{"proxy.fake", 3}, // inside a string: falls back to [proxy]
		{"proxy.arr", 12},
		{"proxy.inline", 16},
		{"proxy.inline.b.c", 16}, // inline table keys fall back to their key
		{"proxy.tls", 17},
		{"proxy.tls.cert", 18},
		{"replicas", 19},
		{"replicas[0]", 19},
		{"replicas[0].name", 20},
		{"replicas[0].tls", 21},
		{"replicas[0].tls.ca", 21},
		{"replicas[0].weight", 19}, // missing: its table
		{"replicas[1]", 22},
		{"replicas[1].name", 23},
		{"replicas[1].tls", 24},
		{"replicas[1].tls.verify", 25},
		{"replicas[1].extra[0].k", 27},
		{"replicas[1].extra[1]", 28},
		{"replicas[1].extra[1].k", 29},
		{"lag", 30},
		{"lag.max", 31},
		{"lag.recover", 33},
		{`a."b.c".d`, 35},
		{`a."b.c"`, 34},
		{"a", 34},
		{"nothing", 0},
		{"nothing.at[3].all", 0},
	}
	for _, tc := range cases {
		if got := lines.line(tc.key); got != tc.want {
			t.Errorf("line(%s) = %d, want %d", tc.key, got, tc.want)
		}
	}
}

func TestParentKey(t *testing.T) {
	cases := []struct{ in, want string }{
		{"a.b.c", "a.b"},
		{"a", ""},
		{"replicas[1]", "replicas"},
		{"replicas[1].tls", "replicas[1]"},
		{`a."b.c"`, "a"},
		{`a."b[1]"`, "a"},
		{`"x\".y".z`, `"x\".y"`},
		{"", ""},
	}
	for _, tc := range cases {
		if got := parentKey(tc.in); got != tc.want {
			t.Errorf("parentKey(%s) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
