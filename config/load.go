package config

import (
	"encoding"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// Load reads the TOML file at path and returns its configuration, or an *Errors
// listing every problem (a file that cannot be read is returned as a plain error).
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return Parse(data, path)
}

// Parse builds a configuration from TOML text: defaults, then the text laid over
// them, then password files read and TLS files loaded, then Check. path is recorded in
// Config.Path and in the errors, and relative password_file and TLS file paths are
// resolved against its directory (the working directory when path is empty). On failure it returns nil and an
// *Errors holding every problem found: a TOML syntax error stops the parse and is
// the only problem; anything else (type mismatches, unknown keys, bad values) is
// collected key by key.
func Parse(data []byte, path string) (*Config, error) {
	var tree map[string]any
	if _, err := toml.Decode(string(data), &tree); err != nil {
		return nil, &Errors{Path: path, Problems: []Problem{syntaxProblem(err)}}
	}
	c := Default()
	c.Path = path
	c.lines = scanKeyLines(data)

	d := &decoder{lines: c.lines, reported: map[string]bool{}}
	d.table(tree, reflect.ValueOf(c).Elem(), "")
	if _, ok := tree["proxy"]; !ok {
		d.add("proxy", "required table [proxy] is missing")
	}
	d.readPasswordFiles(c, filepath.Dir(path))
	d.readTLSFiles(c, filepath.Dir(path))

	problems := d.problems
	if err := c.Check(); err != nil {
		// A key that failed to decode kept its default or stayed empty: don't report
		// it a second time.
		for _, p := range problems {
			d.reported[p.Key] = true
		}
		for _, p := range err.(*Errors).Problems {
			if !d.reported[p.Key] {
				problems = append(problems, p)
			}
		}
	}
	if len(problems) > 0 {
		sortProblems(problems)
		return nil, &Errors{Path: path, Problems: problems}
	}
	return c, nil
}

// syntaxProblem turns the TOML parser's error into a Problem with its line.
func syntaxProblem(err error) Problem {
	var pe toml.ParseError
	if errors.As(err, &pe) {
		// LastKey is the last key parsed, not necessarily the one at fault (for a
		// broken table header it is the previous table's), so it goes in the message.
		msg := "TOML syntax: " + pe.Message
		if pe.LastKey != "" {
			msg += fmt.Sprintf(" (last key %q)", pe.LastKey)
		}
		return Problem{Line: pe.Position.Line, Msg: msg}
	}
	return Problem{Msg: err.Error()}
}

// sortProblems orders problems by line, keeping those without a line last and the
// order of problems on the same line.
func sortProblems(ps []Problem) {
	slices.SortStableFunc(ps, func(a, b Problem) int {
		switch {
		case a.Line == b.Line:
			return 0
		case a.Line == 0:
			return 1
		case b.Line == 0:
			return -1
		}
		return a.Line - b.Line
	})
}

// decoder lays a generic TOML tree over the typed config, one key at a time, so one
// bad key does not stop the others from being decoded and checked. Struct fields
// are matched by their exact toml tag.
type decoder struct {
	lines    keyLines
	problems []Problem
	// reported holds keys whose Check problems would repeat a decoding problem.
	reported map[string]bool
}

func (d *decoder) add(key, format string, args ...any) {
	d.problems = append(d.problems, Problem{Key: key, Line: d.lines.line(key), Msg: fmt.Sprintf(format, args...)})
}

// table decodes the TOML table m into the struct v; key names v ("" at the top).
func (d *decoder) table(m map[string]any, v reflect.Value, key string) {
	names := make([]string, 0, len(m))
	for name := range m {
		names = append(names, name)
	}
	// File order (as far as lines tell), then by name: deterministic problems.
	slices.SortFunc(names, func(a, b string) int {
		if la, lb := d.lines.line(joinKey(key, a)), d.lines.line(joinKey(key, b)); la != lb {
			return la - lb
		}
		return strings.Compare(a, b)
	})
	for _, name := range names {
		sub := joinKey(key, name)
		f, ok := fieldByTag(v, name)
		if !ok {
			if _, isTable := m[name].(map[string]any); isTable {
				d.add(sub, "unknown table")
			} else {
				d.add(sub, "unknown key")
			}
			continue
		}
		d.value(m[name], f, sub)
	}
}

// fieldByTag returns the field of struct v whose toml tag is name.
func fieldByTag(v reflect.Value, name string) (reflect.Value, bool) {
	t := v.Type()
	for i := range t.NumField() {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		if tag, _, _ := strings.Cut(sf.Tag.Get("toml"), ","); tag == name && tag != "-" {
			return v.Field(i), true
		}
	}
	return reflect.Value{}, false
}

var textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()

// value decodes one TOML value into v, which is settable.
func (d *decoder) value(raw any, v reflect.Value, key string) {
	if reflect.PointerTo(v.Type()).Implements(textUnmarshalerType) {
		var text string
		switch x := raw.(type) {
		case string:
			text = x
		case int64:
			text = strconv.FormatInt(x, 10)
		default:
			d.add(key, "must be a string, not %s", describe(key, raw))
			return
		}
		if err := v.Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(text)); err != nil {
			d.add(key, "%v", err)
		}
		return
	}

	switch v.Kind() {
	case reflect.Pointer: // an optional table
		m, ok := raw.(map[string]any)
		if !ok {
			d.add(key, "must be a table, not %s", describe(key, raw))
			return
		}
		p := newTable(v.Type().Elem())
		d.table(m, p.Elem(), key)
		v.Set(p)
	case reflect.Struct:
		m, ok := raw.(map[string]any)
		if !ok {
			d.add(key, "must be a table, not %s", describe(key, raw))
			return
		}
		d.table(m, v, key)
	case reflect.Slice:
		if v.Type().Elem().Kind() != reflect.Struct { // an array of values
			items, ok := raw.([]any)
			if !ok {
				d.add(key, "must be an array ([...]), not %s", describe(key, raw))
				return
			}
			// The items that decode are kept, so that Check still reports what is wrong
			// with them next to the items of the wrong type.
			s := reflect.MakeSlice(v.Type(), 0, len(items))
			for i, item := range items {
				el := reflect.New(v.Type().Elem()).Elem()
				before := len(d.problems)
				if d.value(item, el, indexKey(key, i)); len(d.problems) == before {
					s = reflect.Append(s, el)
				}
			}
			v.Set(s)
			return
		}
		// An array of tables.
		tables, ok := asTables(raw)
		if !ok {
			d.add(key, "must be an array of tables ([[%s]]), not %s", key, describe(key, raw))
			return
		}
		s := reflect.MakeSlice(v.Type(), len(tables), len(tables))
		for i, m := range tables {
			el := newTable(v.Type().Elem())
			d.table(m, el.Elem(), indexKey(key, i))
			s.Index(i).Set(el.Elem())
		}
		v.Set(s)
	case reflect.String:
		s, ok := raw.(string)
		if !ok {
			d.add(key, "must be a string, not %s", describe(key, raw))
			return
		}
		v.SetString(s)
	case reflect.Bool:
		b, ok := raw.(bool)
		if !ok {
			d.add(key, "must be true or false, not %s", describe(key, raw))
			return
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int64:
		n, ok := raw.(int64)
		if !ok {
			d.add(key, "must be an integer, not %s", describe(key, raw))
			return
		}
		if v.OverflowInt(n) {
			d.add(key, "%d is out of range", n)
			return
		}
		v.SetInt(n)
	case reflect.Uint32:
		n, ok := raw.(int64)
		if !ok {
			d.add(key, "must be an integer, not %s", describe(key, raw))
			return
		}
		if n < 0 || v.OverflowUint(uint64(n)) {
			d.add(key, "%d is out of range (0 to %d)", n, uint32(1<<32-1))
			return
		}
		v.SetUint(uint64(n))
	default:
		panic(fmt.Sprintf("config: no decoder for %s (%s)", key, v.Type()))
	}
}

// newTable allocates a table of type t with its defaults set.
func newTable(t reflect.Type) reflect.Value {
	p := reflect.New(t)
	if d, ok := p.Interface().(defaulter); ok {
		d.setDefaults()
	}
	return p
}

// asTables accepts both [[x]] arrays of tables and inline arrays of inline tables.
func asTables(raw any) ([]map[string]any, bool) {
	switch x := raw.(type) {
	case []map[string]any:
		return x, true
	case []any:
		tables := make([]map[string]any, len(x))
		for i, e := range x {
			m, ok := e.(map[string]any)
			if !ok {
				return nil, false
			}
			tables[i] = m
		}
		return tables, true
	}
	return nil, false
}

// describe names the TOML type of a decoded value, with the value when short, unless key
// holds a secret.
func describe(key string, raw any) string {
	var kind, value string
	switch x := raw.(type) {
	case string:
		kind, value = "a string", strconv.Quote(x)
	case int64:
		kind, value = "an integer", strconv.FormatInt(x, 10)
	case float64:
		kind, value = "a float", fmt.Sprint(x)
	case bool:
		kind, value = "a boolean", fmt.Sprint(x)
	case time.Time:
		return "a datetime"
	case map[string]any:
		return "a table"
	case []any, []map[string]any:
		return "an array"
	default:
		return fmt.Sprintf("%T", raw)
	}
	if secretKeys[key[strings.LastIndexByte(key, '.')+1:]] {
		return kind
	}
	return kind + " (" + value + ")"
}

// readPasswordFiles loads every password_file into its Password, relative paths
// resolved against dir.
func (d *decoder) readPasswordFiles(c *Config, dir string) {
	if c.Admin != nil {
		d.readPasswordFile("admin", &c.Admin.Password, c.Admin.PasswordFile, dir)
	}
	for i := range c.Users {
		d.readPasswordFile(indexKey("users", i), &c.Users[i].Password, c.Users[i].PasswordFile, dir)
	}
	if c.Replication != nil {
		d.readPasswordFile("replication", &c.Replication.Password, c.Replication.PasswordFile, dir)
	}
}

func (d *decoder) readPasswordFile(table string, password *string, file, dir string) {
	if file == "" {
		return
	}
	key := joinKey(table, "password_file")
	if *password != "" {
		d.add(key, "password and password_file are both set: keep one")
		return
	}
	data, err := os.ReadFile(inDir(dir, file))
	if err != nil {
		d.add(key, "cannot read the password: %v", err)
		d.reported[joinKey(table, "password")] = true // not "password is required" as well
		return
	}
	*password = strings.TrimRight(string(data), "\r\n")
	if *password == "" {
		d.add(key, "%s is empty: it must hold the password", file)
		d.reported[joinKey(table, "password")] = true
	}
}
