package config

import (
	"encoding"
	"fmt"
	"reflect"
	"slices"
	"strings"
)

// Change is one difference between two configurations.
type Change struct {
	// Key is what changed: a dotted key ("lag.max", "proxy.tls") or, inside users
	// and replicas, one keyed by name rather than index ("replicas[replica1].weight",
	// "users[app].password"); a whole entry for additions and removals ("replicas[replica2]").
	Key string
	// Text says what changed, for people: "lag.max 1s -> 2s", "replica replica2 added",
	// "users[app].password changed" (secrets are never shown), `proxy.listen "a:1" ->
	// "b:1": needs a restart`.
	Text string
	// Restart is set when a running proxy cannot apply the change: it takes effect at
	// the next start. Only the keys in liveKeys apply live.
	Restart bool
}

// liveKeys are what a running tailgate applies on reload (app's reload): a key, or a
// table or array of tables whose every key applies. Any other change waits for a restart,
// and the reload says so: a key is live only once the code applying it exists.
var liveKeys = map[string]bool{
	"users":    true, // new logins; caching_sha2 cache cleared for changed passwords
	"primary":  true, // a switchover: new statements go to the new address, pinned sessions finish
	"replicas": true,

	// From the next connection, session or statement (proxy.Options' live fields).
	"proxy.max_connections":         true,
	"proxy.handshake_timeout":       true,
	"proxy.max_allowed_packet":      true,
	"proxy.backend_connect_timeout": true,
	"proxy.backend_read_timeout":    true,
	"proxy.max_backend_connections": true,
	"proxy.primary_wait":            true,
	"proxy.max_auth_failures":       true,
	"proxy.shutdown_timeout":        true, // read when a shutdown starts
	"consistency":                   true,
	"rules":                         true,
	"log.slow_statement":            true, // the classifier's caches are emptied: every statement is classified anew

	"lag.max":           true,
	"lag.recover":       true,
	"lag.on_all_stale":  true,
	"lag.poll_interval": true,
	// The next logins of position polls and binlog streams (a password rotation).
	"replication.user":          true,
	"replication.password":      true,
	"replication.password_file": true,

	"admin.user":          true,
	"admin.password":      true,
	"admin.password_file": true,
	"log.level":           true,
}

// isLive reports whether a change of key applies live: the key or a table containing it
// ("replicas[r1].weight" is in "replicas") is in liveKeys.
func isLive(key string) bool {
	for {
		if liveKeys[key] {
			return true
		}
		i := strings.LastIndexAny(key, ".[")
		if i < 0 {
			return false
		}
		key = key[:i]
	}
}

// wholeKeys are tables compared and reported as one value.
var wholeKeys = map[string]bool{"proxy.tls": true}

// entryNoun names one element of the arrays of tables, which are matched by name.
var entryNoun = map[string]string{"users": "user", "replicas": "replica", "rules": "rule"}

// secretKeys are key names whose values are never shown.
var secretKeys = map[string]bool{"password": true, "backend_password": true}

// Changes lists the differences from old to new, in the order of the config's
// fields; users and replicas are matched by name (a rename is a removal and an
// addition). Either config may be nil, which yields nil.
func Changes(old, new *Config) []Change {
	if old == nil || new == nil {
		return nil
	}
	d := &differ{}
	d.fields("", reflect.ValueOf(old).Elem(), reflect.ValueOf(new).Elem())
	return d.changes
}

// Diff returns the Text of each of Changes(old, new): what a reload reports.
func Diff(old, new *Config) []string {
	changes := Changes(old, new)
	if len(changes) == 0 {
		return nil
	}
	texts := make([]string, len(changes))
	for i, c := range changes {
		texts[i] = c.Text
	}
	return texts
}

type differ struct{ changes []Change }

func (d *differ) add(key, text string) {
	restart := !isLive(key)
	if restart {
		text += ": needs a restart"
	}
	d.changes = append(d.changes, Change{Key: key, Text: text, Restart: restart})
}

// fields compares two structs of the same type field by field.
func (d *differ) fields(prefix string, a, b reflect.Value) {
	eachKey(a.Type(), func(i int, name string) {
		d.value(joinKey(prefix, name), name, a.Field(i), b.Field(i))
	})
}

var textMarshalerType = reflect.TypeFor[encoding.TextMarshaler]()

func (d *differ) value(key, name string, a, b reflect.Value) {
	if wholeKeys[key] {
		if !reflect.DeepEqual(a.Interface(), b.Interface()) {
			d.add(key, key+" changed")
		}
		return
	}
	switch {
	case a.Type().Implements(textMarshalerType) || a.Kind() != reflect.Pointer && a.Kind() != reflect.Struct && a.Kind() != reflect.Slice:
		if a.Interface() == b.Interface() {
			return
		}
		if secretKeys[name] {
			d.add(key, key+" changed")
			return
		}
		d.add(key, fmt.Sprintf("%s %s -> %s", key, formatValue(a), formatValue(b)))
	case a.Kind() == reflect.Pointer:
		switch {
		case a.IsNil() && b.IsNil():
		case a.IsNil():
			d.add(key, key+" added")
		case b.IsNil():
			d.add(key, key+" removed")
		default:
			d.value(key, name, a.Elem(), b.Elem())
		}
	case a.Kind() == reflect.Struct:
		d.fields(key, a, b)
	case a.Kind() == reflect.Slice && a.Type().Elem().Kind() != reflect.Struct:
		if !reflect.DeepEqual(a.Interface(), b.Interface()) {
			d.add(key, fmt.Sprintf("%s %q -> %q", key, a.Interface(), b.Interface()))
		}
	case a.Kind() == reflect.Slice:
		d.entries(key, a, b)
	}
}

// entries compares two arrays of tables whose elements have a Name, matching by name.
func (d *differ) entries(key string, a, b reflect.Value) {
	noun := entryNoun[key]
	index := func(s reflect.Value) map[string]reflect.Value {
		m := make(map[string]reflect.Value, s.Len())
		for i := range s.Len() {
			m[s.Index(i).FieldByName("Name").String()] = s.Index(i)
		}
		return m
	}
	olds, news := index(a), index(b)
	entryKey := func(name string) string { return key + "[" + name + "]" }
	for i := range a.Len() {
		if name := a.Index(i).FieldByName("Name").String(); !news[name].IsValid() {
			d.add(entryKey(name), fmt.Sprintf("%s %s removed", noun, name))
		}
	}
	for i := range b.Len() {
		name := b.Index(i).FieldByName("Name").String()
		if old := olds[name]; old.IsValid() {
			d.fields(entryKey(name), old, b.Index(i))
		} else {
			d.add(entryKey(name), fmt.Sprintf("%s %s added", noun, name))
		}
	}
	if orderedKeys[key] {
		// The first matching rule applies: the same rules in another order route otherwise.
		names := func(s reflect.Value) []string {
			var out []string
			for i := range s.Len() {
				if n := s.Index(i).FieldByName("Name").String(); news[n].IsValid() && olds[n].IsValid() {
					out = append(out, n)
				}
			}
			return out
		}
		if was, now := names(a), names(b); !slices.Equal(was, now) {
			d.add(key, fmt.Sprintf("%s order %s -> %s", key, strings.Join(was, ","), strings.Join(now, ",")))
		}
	}
}

// orderedKeys are arrays of tables whose order matters.
var orderedKeys = map[string]bool{"rules": true}

func formatValue(v reflect.Value) string {
	if m, ok := v.Interface().(encoding.TextMarshaler); ok {
		if text, err := m.MarshalText(); err == nil {
			return string(text)
		}
	}
	if v.Kind() == reflect.String {
		return fmt.Sprintf("%q", v.String())
	}
	return fmt.Sprint(v.Interface())
}

// Live is the configuration a running tailgate has after it reloads file: file's values
// for the keys that apply live (liveKeys), running's for the others, which wait for a
// restart. SHOW CONFIG shows it, and the next reload compares against it, so a change
// that needs a restart is reported by every reload until one happens.
func Live(running, file *Config) *Config {
	out := running.clone()
	liveFields("", reflect.ValueOf(out).Elem(), reflect.ValueOf(file.clone()).Elem())
	out.Path = file.Path
	return out
}

// liveFields sets the live keys of dst, a struct, from src.
func liveFields(prefix string, dst, src reflect.Value) {
	eachKey(dst.Type(), func(i int, name string) {
		key := joinKey(prefix, name)
		d, s := dst.Field(i), src.Field(i)
		switch {
		case isLive(key):
			d.Set(s)
		case wholeKeys[key] || d.Type().Implements(textMarshalerType):
		case d.Kind() == reflect.Struct:
			liveFields(key, d, s)
		case d.Kind() == reflect.Pointer && !d.IsNil() && !s.IsNil() && d.Elem().Kind() == reflect.Struct:
			liveFields(key, d.Elem(), s.Elem()) // a table in both; adding or removing one waits
		}
	})
}
