package config

import (
	"encoding"
	"fmt"
	"reflect"
)

// Change is one difference between two configurations.
type Change struct {
	// Key is what changed: a dotted key ("lag.max", "proxy.tls") or, inside users
	// and replicas, one keyed by name rather than index ("replicas[replica1].weight",
	// "users[app].password"); a whole entry for additions and removals ("replicas[replica2]").
	Key string
	// Text says what changed, for people: "lag.max 1s -> 2s", "replica replica2 added",
	// "users[app].password changed" (secrets are never shown), "proxy.listen changed:
	// needs a restart".
	Text string
	// Restart is set when a running proxy cannot apply the change: it takes effect
	// at the next start. These are proxy.listen, admin.listen, metrics.listen,
	// replication.server_id, proxy.tls, proxy.compression, proxy.local_infile, and adding or removing [admin], [metrics]
	// or [replication] (a listener or the binlog tailer starts or stops).
	Restart bool
}

// restartKeys cannot change in a running proxy.
var restartKeys = map[string]bool{
	"proxy.listen":          true,
	"proxy.tls":             true,
	"proxy.compression":     true,
	"proxy.local_infile":    true,
	"admin.listen":          true,
	"metrics.listen":        true,
	"replication.server_id": true,
}

// restartTables cannot be added or removed in a running proxy.
var restartTables = map[string]bool{"admin": true, "metrics": true, "replication": true}

// entryNoun names one element of the arrays of tables, which are matched by name.
var entryNoun = map[string]string{"users": "user", "replicas": "replica"}

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

func (d *differ) add(key, text string, restart bool) {
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
	if restartKeys[key] {
		if !reflect.DeepEqual(a.Interface(), b.Interface()) {
			d.add(key, key+" changed", true)
		}
		return
	}
	switch {
	case a.Type().Implements(textMarshalerType) || a.Kind() != reflect.Pointer && a.Kind() != reflect.Struct && a.Kind() != reflect.Slice:
		if a.Interface() == b.Interface() {
			return
		}
		if secretKeys[name] {
			d.add(key, key+" changed", false)
			return
		}
		d.add(key, fmt.Sprintf("%s %s -> %s", key, formatValue(a), formatValue(b)), false)
	case a.Kind() == reflect.Pointer:
		switch {
		case a.IsNil() && b.IsNil():
		case a.IsNil():
			d.add(key, key+" added", restartTables[key])
		case b.IsNil():
			d.add(key, key+" removed", restartTables[key])
		default:
			d.value(key, name, a.Elem(), b.Elem())
		}
	case a.Kind() == reflect.Struct:
		d.fields(key, a, b)
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
			d.add(entryKey(name), fmt.Sprintf("%s %s removed", noun, name), false)
		}
	}
	for i := range b.Len() {
		name := b.Index(i).FieldByName("Name").String()
		if old := olds[name]; old.IsValid() {
			d.fields(entryKey(name), old, b.Index(i))
		} else {
			d.add(entryKey(name), fmt.Sprintf("%s %s added", noun, name), false)
		}
	}
}

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
