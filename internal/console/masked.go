package console

import (
	"fmt"
	"reflect"
	"regexp"
	"strings"
	"time"

	"github.com/bulkstream/bulkstream/internal/config"
)

var secretType = reflect.TypeFor[config.Secret]()

// urlPassword matches a URL up to the end of the password of its user
// info, as net/url splits it (the user name ends at the first ":", the
// user info at the authority's last "@"), but whether or not net/url
// would accept the rest: a password with a character it refuses, or a
// scheme such as Kafka's SASL_SSL://, still hides a password.
var urlPassword = regexp.MustCompile(`^((?:[^:/?#]+:)?//[^/?#:]*:)[^/?#]+@`)

// masked returns v as JSON would have it, keyed by the YAML names of its
// fields, with every non-empty config.Secret and the password of every URL
// (scheme://user:password@host) replaced by "<redacted>", and durations
// and sizes written as in the configuration file ("5s", "64MiB").
func masked(v any) any {
	if v == nil {
		return nil
	}
	return maskValue(reflect.ValueOf(v))
}

func maskValue(v reflect.Value) any {
	if v.Type() == secretType {
		if v.String() == "" {
			return ""
		}
		return "<redacted>"
	}
	if s, ok := v.Interface().(fmt.Stringer); ok && (v.Type() == reflect.TypeFor[time.Duration]() || v.Type() == reflect.TypeFor[config.Size]()) {
		return s.String()
	}
	switch v.Kind() {
	case reflect.String:
		return urlPassword.ReplaceAllString(v.String(), "${1}<redacted>@")
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return nil
		}
		return maskValue(v.Elem())
	case reflect.Struct:
		out := map[string]any{}
		for i := range v.NumField() {
			f := v.Type().Field(i)
			if !f.IsExported() {
				continue
			}
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if name == "-" {
				continue
			}
			if name == "" {
				name = strings.ToLower(f.Name)
			}
			out[name] = maskValue(v.Field(i))
		}
		return out
	case reflect.Slice, reflect.Array:
		if v.Kind() == reflect.Slice && v.IsNil() {
			return []any{}
		}
		out := make([]any, v.Len())
		for i := range out {
			out[i] = maskValue(v.Index(i))
		}
		return out
	case reflect.Map:
		out := map[string]any{}
		for it := v.MapRange(); it.Next(); {
			out[fmt.Sprint(it.Key().Interface())] = maskValue(it.Value())
		}
		return out
	}
	return v.Interface()
}
