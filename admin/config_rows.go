package admin

import (
	"encoding"
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"github.com/tailgate-proxy/tailgate/config"
)

// flattenConfig lists every key of c as SHOW CONFIG rows (key, value), in the order of
// the config's fields: dotted TOML keys ("proxy.listen"), arrays of tables by index
// ("replicas[0].name"). Absent optional tables are left out. c should be masked already
// (Source.Config returns it so); password keys are masked here again in case it is not.
func flattenConfig(c *config.Config) [][2]string {
	if c == nil {
		return nil
	}
	var rows [][2]string
	flattenStruct(&rows, "", reflect.ValueOf(c).Elem())
	return rows
}

var textMarshalerType = reflect.TypeFor[encoding.TextMarshaler]()

func flattenStruct(rows *[][2]string, prefix string, v reflect.Value) {
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
		if !f.IsExported() || name == "" || name == "-" {
			continue
		}
		key := name
		if prefix != "" {
			key = prefix + "." + name
		}
		flattenValue(rows, key, name, v.Field(i))
	}
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
		for i := range v.Len() {
			flattenValue(rows, key+"["+strconv.Itoa(i)+"]", name, v.Index(i))
		}
	case reflect.String:
		s := v.String()
		if s != "" && (name == "password" || name == "backend_password") {
			s = config.Mask
		}
		*rows = append(*rows, [2]string{key, s})
	default:
		*rows = append(*rows, [2]string{key, fmt.Sprint(v.Interface())})
	}
}
