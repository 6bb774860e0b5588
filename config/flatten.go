package config

import (
	"encoding"
	"fmt"
	"reflect"
	"strings"
)

// Flatten lists every key of c with its value as text (SHOW CONFIG), in the order of the
// config's fields: dotted keys ("proxy.listen"), arrays of tables by index
// ("replicas[0].name"). Absent optional tables are left out; secrets are masked.
func (c *Config) Flatten() [][2]string {
	if c == nil {
		return nil
	}
	var rows [][2]string
	flattenStruct(&rows, "", reflect.ValueOf(c).Elem())
	return rows
}

// eachKey calls fn with the index and TOML key name of each field of the struct type t
// that has one: the walk Flatten and Changes share.
func eachKey(t reflect.Type, fn func(i int, name string)) {
	for i := range t.NumField() {
		sf := t.Field(i)
		name, _, _ := strings.Cut(sf.Tag.Get("toml"), ",")
		if !sf.IsExported() || name == "" || name == "-" {
			continue
		}
		fn(i, name)
	}
}

func flattenStruct(rows *[][2]string, prefix string, v reflect.Value) {
	eachKey(v.Type(), func(i int, name string) {
		key := name
		if prefix != "" {
			key = prefix + "." + name
		}
		flattenValue(rows, key, name, v.Field(i))
	})
}

func flattenValue(rows *[][2]string, key, name string, v reflect.Value) {
	if v.Type().Implements(textMarshalerType) {
		text, err := v.Interface().(encoding.TextMarshaler).MarshalText()
		if err != nil {
			text = []byte(fmt.Sprint(v.Interface()))
		}
		*rows = append(*rows, [2]string{key, string(text)})
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			flattenValue(rows, key, name, v.Elem())
		}
	case reflect.Struct:
		flattenStruct(rows, key, v)
	case reflect.Slice:
		if v.Len() == 0 && v.Type().Elem().Kind() != reflect.Struct {
			// An empty list of values is still a key (proxy_protocol_networks = []). An
			// empty array of tables is not: no [[replicas]] means no replicas keys.
			*rows = append(*rows, [2]string{key, "[]"})
			return
		}
		for i := range v.Len() {
			flattenValue(rows, indexKey(key, i), name, v.Index(i))
		}
	case reflect.String:
		s := v.String()
		if s != "" && secretKeys[name] {
			s = Mask
		}
		*rows = append(*rows, [2]string{key, s})
	default:
		*rows = append(*rows, [2]string{key, fmt.Sprint(v.Interface())})
	}
}
